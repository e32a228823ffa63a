package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class SmokeTest {
    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    TomcatProxy proxy;
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void start() {
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .build();
        proxy = TomcatProxy.servlet(config);
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void chatOnRootGetsSeedDefaultsAndServerKey() throws Exception {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withHeader("x-request-id", "req_1")
                        .withBody("{\"id\":\"chatcmpl-1\"}")));
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(proxy.uri("/"))
                        .header("Content-Type", "application/json")
                        .header("Authorization", "Bearer client-secret")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"id\":\"chatcmpl-1\"}");
        assertThat(r.headers().firstValue("x-request-id")).contains("req_1");
        upstream.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer sk-server-key-123456"))
                .withRequestBody(equalToJson(
                        "{\"model\":\"gpt-3.5-turbo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                                + "\"temperature\":0.7,\"max_tokens\":1000,\"stream\":false}")));
    }

    @Test
    void streamArrivesEventByEvent() throws Exception {
        StringBuilder sse = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            sse.append("data: {\"i\":").append(i).append("}\n\n");
        }
        sse.append("data: [DONE]\n\n");
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(sse.toString())
                        .withChunkedDribbleDelay(11, 2000)));
        HttpResponse<java.util.stream.Stream<String>> r = http.send(
                HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"x\",\"messages\":[],\"stream\":true}"))
                        .build(),
                HttpResponse.BodyHandlers.ofLines());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        List<Long> times = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        long t0 = System.nanoTime();
        r.body().forEach(l -> {
            if (!l.isEmpty()) {
                lines.add(l);
                times.add((System.nanoTime() - t0) / 1_000_000);
            }
        });
        assertThat(lines).hasSize(11).last().isEqualTo("data: [DONE]");
        // The first event reaches the client long before the upstream finishes.
        assertThat(times.get(0)).isLessThan(times.get(10) - 500);
    }
}
