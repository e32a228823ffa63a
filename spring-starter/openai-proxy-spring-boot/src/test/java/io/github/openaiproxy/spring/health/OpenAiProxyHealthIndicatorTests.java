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
        assertThat(health.getDetails()).containsEntry("status", 502);
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
    void unknownWithClientKeysOnly() {
        Health health = indicator(ProxyConfig.builder().allowClientKey(true), Duration.ofSeconds(1))
                .health();
        assertThat(health.getStatus()).isEqualTo(Status.UNKNOWN);
        assertThat(health.getDetails()).containsEntry("keys", "client keys only");
        upstream.verify(0, getRequestedFor(urlEqualTo("/v1/models")));
    }

    @Test
    void unknownWhenModelsIsNotAProxyRoute() {
        Health health = indicator(
                        withKey(wiremock())
                                .passThroughRoutes(List.of(PassThroughRoute.parse("POST /v1/chat/completions"))),
                        Duration.ofSeconds(1))
                .health();
        assertThat(health.getStatus()).isEqualTo(Status.UNKNOWN);
    }
}
