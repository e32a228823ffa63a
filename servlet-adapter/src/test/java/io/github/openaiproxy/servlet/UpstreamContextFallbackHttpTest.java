package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The context-window fallback over real HTTP: with {@code upstreams.<name>.context-fallback}, OpenAI's 400
 * {@code context_length_exceeded} is answered by the model with the larger window (on another upstream or the
 * same one), once, listed in the attempts header; without the setting, or for any other 400, the answer is
 * relayed unchanged.
 */
class UpstreamContextFallbackHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String TOO_LONG = "{\"error\":{\"message\":\"This model's maximum context length is 128000"
            + " tokens.\",\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":\"context_length_exceeded\"}}";

    @RegisterExtension
    static WireMockExtension first = Upstream.extension();

    @RegisterExtension
    static WireMockExtension second = Upstream.extension();

    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private static Map<String, String> settings(String... more) {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.first.base-url", first.baseUrl());
        s.put("upstreams.first.keys", "sk-first-0123456789abcdefghijklmnop");
        s.put("upstreams.first.models", "gpt-4o,gpt-4o-long");
        s.put("upstreams.second.kind", "compatible");
        s.put("upstreams.second.base-url", second.baseUrl());
        for (int i = 0; i < more.length; i += 2) {
            s.put(more[i], more[i + 1]);
        }
        return s;
    }

    private void start(String... more) {
        proxy = TomcatProxy.servlet(ProxySettings.from(settings(more)).toConfig());
    }

    private static ResponseDefinitionBuilder badRequest(String body) {
        return aResponse()
                .withStatus(400)
                .withHeader("Content-Type", "application/json")
                .withBody(body);
    }

    private HttpResponse<String> chat() {
        return Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
    }

    @Test
    void aContextWindowErrorFallsBackToTheLargerModelOnAnotherUpstream() throws Exception {
        start("upstreams.first.context-fallback", "second:gpt-4o-long");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(badRequest(TOO_LONG)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o-long\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("gpt-4o-long");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("second");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 400, second 200");
        assertThat(Upstream.requests(first)).hasSize(1);
        assertThat(JSON.readTree(Upstream.onlyRequest(second).getBodyAsString())
                        .get("model")
                        .asText())
                .isEqualTo("gpt-4o-long");
    }

    @Test
    void aBareModelFallsBackOnTheSameUpstream() {
        start("upstreams.first.context-fallback", "gpt-4o-long");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(
                        matchingJsonPath("$.model", com.github.tomakehurst.wiremock.client.WireMock.equalTo("gpt-4o")))
                .willReturn(badRequest(TOO_LONG)));
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(matchingJsonPath(
                        "$.model", com.github.tomakehurst.wiremock.client.WireMock.equalTo("gpt-4o-long")))
                .willReturn(okJson("{\"model\":\"gpt-4o-long\",\"choices\":[]}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 400, first 200");
        assertThat(Upstream.requests(first)).hasSize(2);
        Upstream.assertNoCalls(second);
    }

    @Test
    void withoutTheSettingTheContextWindowErrorIsRelayedUnchanged() throws Exception {
        start("upstreams.first.fallback", "second");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(badRequest(TOO_LONG)));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(r.body())).isEqualTo(JSON.readTree(TOO_LONG));
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 400");
        Upstream.assertNoCalls(second);
    }

    @Test
    void anotherBadRequestIsRelayedUnchangedAndNotFallenBackFrom() throws Exception {
        start("upstreams.first.context-fallback", "second:gpt-4o-long");
        String other = "{\"error\":{\"message\":\"context_length_exceeded is not it\",\"code\":\"invalid_value\"}}";
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(badRequest(other)));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).isEqualTo(other);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 400");
        Upstream.assertNoCalls(second);
    }

    @Test
    void theFallbackIsTakenOnceSoTwoUpstreamsPointingAtEachOtherCannotLoop() throws Exception {
        start(
                "upstreams.first.context-fallback", "second:gpt-4o-long",
                "upstreams.second.context-fallback", "first:gpt-4o");
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(badRequest(TOO_LONG)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(badRequest(TOO_LONG)));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(r.body())).isEqualTo(JSON.readTree(TOO_LONG));
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 400, second 400");
        assertThat(Upstream.requests(first)).hasSize(1);
        assertThat(Upstream.requests(second)).hasSize(1);
    }

    @Test
    void aContextFallbackToAnUnknownUpstreamFailsAtStartUpNamingTheSetting() {
        assertThatThrownBy(() -> ProxySettings.from(settings("upstreams.first.context-fallback", "nowhere:big"))
                        .toConfig())
                .hasMessageContaining("upstreams.first.context-fallback")
                .hasMessageContaining("nowhere");
        assertThatThrownBy(() -> ProxySettings.from(settings("upstreams.first.context-fallback", "second:"))
                        .toConfig())
                .hasMessageContaining("upstreams.first.context-fallback");
    }
}
