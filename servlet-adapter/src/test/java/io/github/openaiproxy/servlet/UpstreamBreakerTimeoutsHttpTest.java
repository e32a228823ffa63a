package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A named upstream's {@code timeout} over real HTTP, against a WireMock upstream that answers a request with a
 * huge {@code max_tokens} later than the timeout (a slow completion): one caller's timeouts do not open the
 * circuit breaker for every caller; timeouts of two callers still do.
 */
class UpstreamBreakerTimeoutsHttpTest {
    private static final String QUICK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String SLOW =
            "{\"model\":\"gpt-4o\",\"max_tokens\":100000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static WireMockExtension first = Upstream.extension();

    @RegisterExtension
    static WireMockExtension second = Upstream.extension();

    private TomcatProxy proxy;

    @BeforeEach
    void start() {
        Map<String, String> s = new HashMap<>();
        s.put("access.trusted-proxies", "127.0.0.1");
        s.put("upstreams.first.base-url", first.baseUrl());
        s.put("upstreams.first.keys", "sk-first-0123456789abcdefghijklmnop");
        s.put("upstreams.first.models", "gpt-4o");
        s.put("upstreams.first.fallback", "second");
        s.put("upstreams.first.retries", "0");
        s.put("upstreams.first.timeout", "300ms");
        s.put("upstreams.first.breaker-failures", "2");
        s.put("upstreams.first.breaker-open", "30s");
        s.put("upstreams.second.kind", "compatible");
        s.put("upstreams.second.base-url", second.baseUrl());
        proxy = TomcatProxy.servlet(
                ProxyEngine.builder(ProxySettings.from(s).toConfig()).build());
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));
        // The slow completion: its headers come when it is done, long after the upstream's timeout.
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(containing("\"max_tokens\":100000"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}").withFixedDelay(1500)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    private HttpResponse<String> chat(String body, String caller) {
        return Http.postJson(proxy.uri("/v1/chat/completions"), body, "X-Forwarded-For", caller);
    }

    @Test
    void oneCallersTimeoutsDoNotOpenTheCircuitForOthers() {
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> slow = chat(SLOW, "10.0.0.1");
            assertThat(slow.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first timeout, second 200");
        }

        HttpResponse<String> other = chat(QUICK, "10.0.0.2");

        assertThat(other.statusCode()).isEqualTo(200);
        assertThat(other.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 200");
        assertThat(other.headers().firstValue("OpenAI-Proxy-Upstream")).contains("first");
    }

    @Test
    void timeoutsOfTwoCallersStillOpenIt() {
        assertThat(chat(SLOW, "10.0.0.1").headers().firstValue("OpenAI-Proxy-Attempts"))
                .contains("first timeout, second 200");
        assertThat(chat(SLOW, "10.0.0.3").headers().firstValue("OpenAI-Proxy-Attempts"))
                .contains("first timeout, second 200");

        HttpResponse<String> other = chat(QUICK, "10.0.0.2");

        assertThat(other.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first open, second 200");
    }
}
