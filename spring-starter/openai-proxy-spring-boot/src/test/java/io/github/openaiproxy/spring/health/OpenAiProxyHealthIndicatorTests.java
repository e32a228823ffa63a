package io.github.openaiproxy.spring.health;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;

class OpenAiProxyHealthIndicatorTests {
    private static final String KEY = "sk-health-secret-42";
    private static final String MODELS = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\",\"object\":\"model\"}]}";
    static WireMockServer upstream;

    private final AtomicLong clock = new AtomicLong();
    private ProxyEngine engine;

    @BeforeAll
    static void startUpstream() {
        upstream = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @BeforeEach
    void reset() {
        upstream.resetAll();
    }

    @AfterEach
    void closeEngine() {
        if (engine != null) {
            engine.close();
        }
    }

    private OpenAiProxyHealthIndicator indicator(ProxyConfig.Builder config, Duration timeout) {
        engine = ProxyEngine.create(config.build());
        return new OpenAiProxyHealthIndicator(engine, Duration.ofSeconds(30), timeout, clock::get);
    }

    private static ProxyConfig.Builder withKey(URI baseUrl) {
        return ProxyConfig.builder()
                .apiKey(KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(baseUrl));
    }

    private static URI wiremock() {
        return URI.create("http://127.0.0.1:" + upstream.port());
    }

    @Test
    void upWhenTheUpstreamAcceptsTheServerKey() {
        upstream.stubFor(get("/v1/models").willReturn(okJson(MODELS)));
        Health health = indicator(withKey(wiremock()), Duration.ofSeconds(10)).health();

        assertThat(health.getStatus()).isEqualTo(Status.UP);
        assertThat(health.getDetails())
                .containsEntry("status", 200)
                .containsEntry("keys", "server key")
                .containsEntry("upstream", wiremock().toString());
        assertThat(health.toString()).doesNotContain(KEY);
        upstream.verify(
                getRequestedFor(urlEqualTo("/v1/models")).withHeader("Authorization", equalTo("Bearer " + KEY)));
    }

    @Test
    void reusesTheAnswerUntilItExpires() {
        upstream.stubFor(get("/v1/models").willReturn(okJson(MODELS)));
        OpenAiProxyHealthIndicator indicator = indicator(withKey(wiremock()), Duration.ofSeconds(10));

        indicator.health();
        clock.addAndGet(Duration.ofSeconds(29).toNanos());
        indicator.health();
        upstream.verify(1, getRequestedFor(urlEqualTo("/v1/models")));

        clock.addAndGet(Duration.ofSeconds(2).toNanos());
        assertThat(indicator.health().getStatus()).isEqualTo(Status.UP);
        upstream.verify(2, getRequestedFor(urlEqualTo("/v1/models")));
    }

    @Test
    void downWhenTheUpstreamRefusesTheKeyWithoutRepeatingItsAnswer() {
        upstream.stubFor(get("/v1/models")
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Incorrect API key provided: sk-heal*****42\"}}")));
        Health health = indicator(withKey(wiremock()), Duration.ofSeconds(10)).health();

        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails()).containsEntry("status", 401);
        assertThat(health.toString()).doesNotContain(KEY).doesNotContain("sk-heal");
    }

    @Test
    void upWhileTheUpstreamOnlyRateLimits() {
        upstream.stubFor(get("/v1/models").willReturn(aResponse().withStatus(429)));
        assertThat(indicator(withKey(wiremock()), Duration.ofSeconds(10))
                        .health()
                        .getStatus())
                .isEqualTo(Status.UP);
    }

    @Test
    void downWhenTheUpstreamIsUnreachable() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        Health health = indicator(withKey(URI.create("http://127.0.0.1:" + closedPort)), Duration.ofSeconds(10))
                .health();
        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails()).containsEntry("error", "the upstream is unreachable (502)");
    }

    @Test
    void downWhenTheUpstreamIsSlowerThanTheTimeout() {
        upstream.stubFor(get("/v1/models").willReturn(okJson(MODELS).withFixedDelay(5_000)));
        Health health = indicator(withKey(wiremock()), Duration.ofMillis(200)).health();
        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails().get("error").toString()).contains("200ms");
    }

    @Test
    void downWithoutAnyKey() {
        Health health = indicator(ProxyConfig.builder(), Duration.ofSeconds(1)).health();
        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails()).containsEntry("keys", "none");
    }

    @Test
    void unknownNotDownWithNamedUpstreamsKeysOnly() {
        // No server key, but the named upstreams spend keys of their own: nothing is "answering 500".
        Health health = indicator(
                        io.github.openaiproxy.core.config.ProxySettings.from(java.util.Map.of(
                                        "upstreams.main.kind", "compatible",
                                        "upstreams.main.base-url", wiremock() + "/v1",
                                        "upstreams.main.keys", "sk-named-0123456789abcdefghij",
                                        "upstreams.main.models", "*"))
                                .toConfig()
                                .toBuilder(),
                        Duration.ofSeconds(1))
                .health();
        assertThat(health.getStatus()).isEqualTo(Status.UNKNOWN);
        assertThat(health.toString()).doesNotContain("sk-named");
    }

    @Test
    void unknownWithClientKeysOnly() {
        Health health = indicator(ProxyConfig.builder().allowClientKey(true), Duration.ofSeconds(1))
                .health();
        assertThat(health.getStatus()).isEqualTo(Status.UNKNOWN);
        assertThat(health.getDetails()).containsEntry("keys", "client keys only");
        upstream.verify(0, getRequestedFor(urlEqualTo("/v1/models")));
    }

    @Test
    void theUpstreamIsCheckedWhateverTheProxyLetsAnonymousCallersDo() {
        // The probe goes straight to the upstream: a proxy that denies anonymous callers, limits them to chat or
        // does not route GET /v1/models is no less healthy (load balancers read this).
        upstream.stubFor(get("/v1/models").willReturn(okJson(MODELS)));
        for (ProxyConfig.Builder config : List.of(
                withKey(wiremock())
                        .access(io.github.openaiproxy.core.access.AccessConfig.DEFAULTS.withAnonymous(
                                io.github.openaiproxy.core.access.AccessConfig.Anonymous.DENY)),
                withKey(wiremock()).passThroughRoutes(List.of(PassThroughRoute.parse("POST /v1/chat/completions"))))) {
            Health health = indicator(config, Duration.ofSeconds(10)).health();
            engine.close();
            engine = null;

            assertThat(health.getStatus()).as(health.toString()).isEqualTo(Status.UP);
        }
        upstream.verify(
                2, getRequestedFor(urlEqualTo("/v1/models")).withHeader("Authorization", equalTo("Bearer " + KEY)));
    }

    @Test
    void reportsEachNamedUpstreamsKeysTakenOutAndOpenCircuitWithoutKeyMaterial() throws Exception {
        upstream.stubFor(com.github.tomakehurst.wiremock.client.WireMock.post("/pooled/v1/chat/completions")
                .withHeader("Authorization", equalTo("Bearer sk-pool-revoked-1"))
                .willReturn(aResponse().withStatus(401).withBody("{\"error\":{\"message\":\"bad key\"}}")));
        upstream.stubFor(com.github.tomakehurst.wiremock.client.WireMock.post("/pooled/v1/chat/completions")
                .withHeader("Authorization", equalTo("Bearer sk-pool-good-2"))
                .willReturn(okJson("{\"model\":\"gpt-4o\",\"choices\":[]}")));
        upstream.stubFor(com.github.tomakehurst.wiremock.client.WireMock.post("/flaky/v1/chat/completions")
                .willReturn(aResponse().withStatus(503)));
        upstream.stubFor(get("/v1/models").willReturn(okJson(MODELS)));
        java.util.Map<String, String> s = new java.util.HashMap<>();
        s.put("api-key", KEY);
        s.put("base-url", wiremock().toString());
        s.put("upstreams.pooled.base-url", wiremock() + "/pooled/v1");
        s.put("upstreams.pooled.keys", "sk-pool-revoked-1, sk-pool-good-2");
        s.put("upstreams.pooled.models", "gpt-4o");
        s.put("upstreams.flaky.kind", "compatible");
        s.put("upstreams.flaky.base-url", wiremock() + "/flaky/v1");
        s.put("upstreams.flaky.models", "llama3*");
        s.put("upstreams.flaky.retries", "0");
        s.put("upstreams.flaky.breaker-failures", "1");
        s.put("upstreams.quiet.kind", "compatible");
        s.put("upstreams.quiet.base-url", wiremock() + "/quiet/v1");
        s.put("upstreams.quiet.breaker-failures", "0");
        OpenAiProxyHealthIndicator indicator = indicator(
                io.github.openaiproxy.core.config.ProxySettings.from(s).toConfig().toBuilder(), Duration.ofSeconds(10));

        Health before = indicator.health();
        assertThat(before.getDetails().get("upstreams"))
                .isEqualTo(java.util.Map.of(
                        "flaky", java.util.Map.of("keys", 0, "keysRemoved", 0, "circuit", "closed"),
                        "pooled", java.util.Map.of("keys", 2, "keysRemoved", 0, "circuit", "closed"),
                        "quiet", java.util.Map.of("keys", 0, "keysRemoved", 0, "circuit", "off")));

        for (int i = 0; i < 2; i++) { // the first key answers 401 and is taken out, the second serves
            chat("gpt-4o");
        }
        assertThat(chat("llama3")).isEqualTo(503); // one failure opens flaky's circuit

        Health after = indicator.health(); // within the cache time: the states are read fresh all the same
        assertThat(after.getStatus()).isEqualTo(before.getStatus());
        assertThat(after.getDetails().get("upstreams"))
                .isEqualTo(java.util.Map.of(
                        "flaky", java.util.Map.of("keys", 0, "keysRemoved", 0, "circuit", "open"),
                        "pooled", java.util.Map.of("keys", 2, "keysRemoved", 1, "circuit", "closed"),
                        "quiet", java.util.Map.of("keys", 0, "keysRemoved", 0, "circuit", "off")));
        assertThat(after.toString())
                .doesNotContain("sk-pool")
                .doesNotContain("pooled#")
                .doesNotContain("/pooled")
                .doesNotContain(KEY);
    }

    private int chat(String model) throws Exception {
        io.github.openaiproxy.core.http.ProxyResponse r = engine.handle(
                        io.github.openaiproxy.core.http.ProxyRequest.builder("POST", "/v1/chat/completions")
                                .header("Content-Type", "application/json")
                                .body(("{\"model\":\"" + model + "\",\"messages\":[]}")
                                        .getBytes(java.nio.charset.StandardCharsets.UTF_8))
                                .build())
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        io.github.openaiproxy.core.internal.BodyCollector.collectTruncated(r.body(), 1 << 16)
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        return r.status();
    }
}
