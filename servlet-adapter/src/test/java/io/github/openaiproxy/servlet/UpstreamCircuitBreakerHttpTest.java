package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
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
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The circuit breaker per named upstream over real HTTP: after {@code breaker-failures} failures in a row the
 * upstream is skipped (no call reaches it, its fallback serves); once {@code breaker-open} has passed (the
 * engine's monotonic time is moved, nothing sleeps) one trial goes through, whose success closes the circuit
 * and whose failure opens it again.
 */
class UpstreamCircuitBreakerHttpTest {
    private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static WireMockExtension first = Upstream.extension();

    @RegisterExtension
    static WireMockExtension second = Upstream.extension();

    private final AtomicLong nanoTime = new AtomicLong(1_000_000_000L);
    private final java.util.List<String> observed = new java.util.concurrent.CopyOnWriteArrayList<>();
    private TomcatProxy proxy;

    @BeforeEach
    void start() {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.first.base-url", first.baseUrl());
        s.put("upstreams.first.keys", "sk-first-0123456789abcdefghijklmnop");
        s.put("upstreams.first.models", "gpt-4o");
        s.put("upstreams.first.fallback", "second");
        s.put("upstreams.first.retries", "0");
        s.put("upstreams.first.breaker-failures", "2");
        s.put("upstreams.first.breaker-open", "30s");
        s.put("upstreams.second.kind", "compatible");
        s.put("upstreams.second.base-url", second.baseUrl());
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .nanoTime(nanoTime::get)
                .observer((method, path) -> new io.github.openaiproxy.core.observe.ProxyObserver.Observation() {
                    @Override
                    public void upstreamAttempt(String upstream, String outcome) {
                        observed.add(upstream + " " + outcome);
                    }
                })
                .build();
        proxy = TomcatProxy.servlet(engine);
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    private HttpResponse<String> chat() {
        return Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
    }

    private static void firstAnswers(int status) {
        first.resetAll();
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(status)
                        .withHeader("Content-Type", "application/json")
                        .withBody(status == 200 ? "{\"model\":\"gpt-4o\",\"choices\":[]}" : "{\"error\":{}}")));
    }

    private void openTheCircuit() {
        firstAnswers(503);
        assertThat(chat().headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 503, second 200");
        assertThat(chat().headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 503, second 200");
        assertThat(Upstream.requests(first)).hasSize(2);
    }

    @Test
    void afterNFailuresTheCircuitOpensThenOneTrialClosesItAgain() {
        openTheCircuit();

        HttpResponse<String> skipped = chat();

        assertThat(skipped.statusCode()).isEqualTo(200);
        assertThat(skipped.headers().firstValue("OpenAI-Proxy-Upstream")).contains("second");
        assertThat(skipped.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first open, second 200");
        assertThat(Upstream.requests(first)).as("an open circuit makes no call").hasSize(2);
        // Every attempt reaches the observers (the metrics), the skipped one too.
        assertThat(observed)
                .containsExactly("first 503", "second 200", "first 503", "second 200", "first open", "second 200");

        firstAnswers(200);
        nanoTime.addAndGet(Duration.ofSeconds(29).toNanos());
        assertThat(chat().headers().firstValue("OpenAI-Proxy-Attempts")).contains("first open, second 200");
        assertThat(Upstream.requests(first))
                .as("still open before breaker-open has passed")
                .isEmpty();

        nanoTime.addAndGet(Duration.ofSeconds(2).toNanos());
        HttpResponse<String> trial = chat();

        assertThat(trial.statusCode()).isEqualTo(200);
        assertThat(trial.headers().firstValue("OpenAI-Proxy-Upstream")).contains("first");
        assertThat(trial.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 200");
        // Closed again: the next requests go to the upstream as usual, without moving the time.
        assertThat(chat().headers().firstValue("OpenAI-Proxy-Upstream")).contains("first");
        assertThat(chat().headers().firstValue("OpenAI-Proxy-Upstream")).contains("first");
        assertThat(Upstream.requests(first)).hasSize(3);
    }

    @Test
    void aFailedTrialOpensTheCircuitAgainForAnotherInterval() {
        openTheCircuit();
        first.resetRequests();
        nanoTime.addAndGet(Duration.ofSeconds(31).toNanos());

        assertThat(chat().headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 503, second 200");
        assertThat(Upstream.requests(first)).as("one trial").hasSize(1);

        nanoTime.addAndGet(Duration.ofSeconds(10).toNanos());
        assertThat(chat().headers().firstValue("OpenAI-Proxy-Attempts")).contains("first open, second 200");
        assertThat(Upstream.requests(first))
                .as("open again after the failed trial")
                .hasSize(1);
    }

    @Test
    void anOpenCircuitWithoutFallbackAnswers503WithoutCallingTheUpstream() {
        openTheCircuit();
        // The client's model is served by first only; with second failing too nothing may serve.
        second.resetAll();
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse().withStatus(503).withBody("{\"error\":{}}")));

        HttpResponse<String> r = chat();

        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("first open, second 503"));
        assertThat(Upstream.requests(first)).hasSize(2);
        assertThat(r.body()).doesNotContain(first.baseUrl()).doesNotContain("sk-first");
    }
}
