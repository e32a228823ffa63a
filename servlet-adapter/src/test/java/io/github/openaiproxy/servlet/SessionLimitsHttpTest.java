package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.servlet.support.Upstream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Session bounds through the servlet adapter on Tomcat: a reply too large to record still reaches the
 * client whole (never cut under a 200), and history that would make the upstream body larger than
 * {@code max-body-size} is 413 with no upstream call.
 */
class SessionLimitsHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();

    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    String newSession() throws Exception {
        HttpResponse<String> created = Http.postJson(proxy.uri("/sessions"), "");
        assertThat(created.statusCode()).isEqualTo(201);
        return JSON.readTree(created.body()).get("sessionId").asText();
    }

    JsonNode history(String id) throws Exception {
        HttpResponse<String> page = Http.get(proxy.uri("/sessions/" + id + "/messages"));
        assertThat(page.statusCode()).isEqualTo(200);
        return JSON.readTree(page.body()).get("messages");
    }

    static String chat(String id, String content, boolean history) {
        return "{\"sessionId\":\"" + id + "\",\"includeHistory\":" + history
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    }

    /** 17 MB: past the recording bound (the bound used to be 16 MB, and the rest was cut off under a 200). */
    @Test
    void aSessionReplyTooLargeToRecordReachesTheClientWhole() throws Exception {
        String completion = "{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                + "a".repeat(17 * 1024 * 1024) + "\"},\"finish_reason\":\"stop\"}]}";
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody(completion)));
        proxy = TomcatProxy.servlet(Upstream.config(upstream).build());
        String id = newSession();

        HttpResponse<byte[]> reply = Http.sendForBytes(Http.request(proxy.uri("/"))
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(chat(id, "write a lot", false)))
                .build());

        assertThat(reply.statusCode()).isEqualTo(200);
        assertThat(reply.body().length).isEqualTo(completion.length());
        assertThat(new String(reply.body(), StandardCharsets.UTF_8)).isEqualTo(completion);
        assertThat(history(id).findValuesAsText("content"))
                .containsExactly("write a lot", ChatSessions.REPLY_NOT_RECORDED);
    }

    @Test
    void historyThatMakesTheUpstreamBodyTooLargeIs413WithoutAnUpstreamCall() throws Exception {
        upstream.stubFor(
                post("/v1/chat/completions")
                        .willReturn(
                                aResponse()
                                        .withHeader("Content-Type", "application/json")
                                        .withBody(
                                                "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}]}")));
        proxy = TomcatProxy.servlet(Upstream.config(upstream).maxBodySize(2048).build());
        String id = newSession();
        for (int i = 0; i < 2; i++) {
            assertThat(Http.postJson(proxy.uri("/"), chat(id, "q".repeat(1500), false))
                            .statusCode())
                    .isEqualTo(200);
        }
        int calls = Upstream.requests(upstream).size();

        HttpResponse<String> refused = Http.postJson(proxy.uri("/"), chat(id, "and?", true));

        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(413);
        assertThat(JSON.readTree(refused.body()).get("error").asText()).isEqualTo("Payload Too Large");
        assertThat(Upstream.requests(upstream)).hasSize(calls);
    }
}
