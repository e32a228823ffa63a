package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.math.BigDecimal;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Flat text settings (init parameters, environment) onto core's configuration. */
class ProxySettingsTest {
    @Test
    void noSettingsMeansCoreDefaults() {
        assertThat(ProxySettings.from(Map.of()).toConfig().toString())
                .isEqualTo(ProxyConfig.defaults().toString());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "https://user:s3cretpw@gateway.example/v1",
                "https://gateway.example/v1?api-key=s3cretpw",
                " https://s3cretpw@gateway.example/v1 ",
                "//user:s3cretpw@gateway.example/v1",
                "https:/user:s3cretpw@gateway.example/v1",
                "https://user:pa/s3cretpw@gateway.example/v1",
                "https://gateway.example/v1#token=s3cretpw"
            })
    void aRefusedUrlIsNeverQuotedWithTheCredentialItMayCarry(String url) {
        for (Map<String, String> settings : List.of(
                Map.of("base-url", url), Map.of("upstreams.gw.base-url", url, "upstreams.gw.models", "gpt-*"))) {
            assertThatThrownBy(() -> ProxySettings.from(settings).toConfig())
                    .isInstanceOfSatisfying(InvalidSettingException.class, e -> {
                        assertThat(e.getMessage()).doesNotContain("s3cretpw").contains("***");
                        assertThat(e.value()).doesNotContain("s3cretpw");
                        assertThat(e.reason()).doesNotContain("s3cretpw");
                        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                            assertThat(String.valueOf(c.getMessage())).doesNotContain("s3cretpw");
                        }
                    });
        }
    }

    @Test
    void everyKeyReachesTheConfiguration() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", "sk-settings-1234567890");
        s.put("base-url", "http://127.0.0.1:9/v1");
        s.put("connect-timeout", "3s");
        s.put("response-timeout", "2m");
        s.put("upstream-client", "JDK");
        s.put("path", "/ai");
        s.put("allowed-hosts", "chat.example.com, .example.org");
        s.put("allow-client-key", "yes");
        s.put("max-body-size", "2MB");
        s.put("max-event-size", "64KB");
        s.put("pass-through-routes", "POST /v1/chat/completions, GET /v1/models");
        s.put("cors.allowed-origins", "https://chat.example.com, http://localhost:*");
        s.put("cors.max-age", "PT10M");
        s.put("chat.model", "gpt-4o-mini");
        s.put("chat.temperature", "0");
        s.put("chat.max-tokens", "50");
        s.put("image.model", "dall-e-2");
        s.put("image.size", "256x256");
        s.put("sessions.history-as-context", "on");
        s.put("sessions.context-messages", "7");
        s.put("sessions.max-message-size", "64KB");
        s.put("sessions.max-session-size", "3GB");
        s.put("sessions.max-page-size", "100000");
        s.put("sessions.queue-size", "50");
        s.put("stream-idle-timeout", "90s");
        s.put("limits.max-concurrent-upstream-calls", "200");
        s.put("limits.max-concurrent-upstream-calls-per-client", "0");

        ProxyConfig c = ProxySettings.from(s).toConfig();

        assertThat(c.keys().allowClientKey()).isTrue();
        assertThat(c.keys().serverKey()).isPresent();
        assertThat(c.upstream().baseUrl()).isEqualTo(URI.create("http://127.0.0.1:9/v1"));
        assertThat(c.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(3));
        assertThat(c.upstream().responseTimeout()).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.upstream().client()).isEqualTo(UpstreamConfig.ClientKind.JDK);
        assertThat(c.path()).isEqualTo("/ai");
        assertThat(c.allowedHosts().entries()).containsExactly("chat.example.com", ".example.org");
        assertThat(c.maxBodySize()).isEqualTo(2L * 1024 * 1024);
        assertThat(c.maxEventSize()).isEqualTo(64 * 1024);
        assertThat(c.passThroughRoutes())
                .containsExactly(
                        PassThroughRoute.parse("POST /v1/chat/completions"), PassThroughRoute.parse("GET /v1/models"));
        assertThat(c.cors().allowedOrigins()).containsExactly("https://chat.example.com");
        assertThat(c.cors().allowedOriginPatterns()).containsExactly("http://localhost:*");
        assertThat(c.cors().maxAge()).isEqualTo(Duration.ofMinutes(10));
        assertThat(c.chatDefaults().model()).isEqualTo("gpt-4o-mini");
        assertThat(c.chatDefaults().temperature()).isEqualByComparingTo(BigDecimal.ZERO);
        assertThat(c.chatDefaults().maxTokens()).isEqualTo(50);
        assertThat(c.imageDefaults().model()).isEqualTo("dall-e-2");
        assertThat(c.imageDefaults().size()).isEqualTo("256x256");
        assertThat(c.sessions().historyAsContext()).isTrue();
        assertThat(c.sessions().contextMessages()).isEqualTo(7);
        assertThat(c.sessions().maxMessageSize()).isEqualTo(64 * 1024);
        assertThat(c.sessions().maxSessionSize()).isEqualTo(3L * 1024 * 1024 * 1024);
        assertThat(c.sessions().maxPageSize()).isEqualTo(100_000);
        assertThat(c.sessions().queueSize()).isEqualTo(50);
        assertThat(c.upstream().streamIdleTimeout()).isEqualTo(Duration.ofSeconds(90));
        assertThat(c.maxConcurrentUpstreamCalls()).isEqualTo(200);
        assertThat(c.maxConcurrentUpstreamCallsPerClient()).isZero();
    }

    @Test
    void badSessionBoundsFailNamingTheKey() {
        for (String key : new String[] {
            "sessions.max-message-size", "sessions.max-session-size", "sessions.max-page-size", "sessions.queue-size"
        }) {
            org.assertj.core.api.Assertions.assertThatThrownBy(
                            () -> ProxySettings.from(java.util.Map.of(key, "0")).toConfig())
                    .as(key)
                    .hasMessageContaining(key);
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(
                        () -> ProxySettings.from(java.util.Map.of("sessions.max-message-size", "3GB"))
                                .toConfig())
                .hasMessageContaining("sessions.max-message-size");
    }

    @Test
    void malformedIdleTimeoutsAndCapsAreRefusedNamingTheKey() {
        assertThatIllegalArgumentException()
                .isThrownBy(() ->
                        ProxySettings.from(Map.of("stream-idle-timeout", "0")).toConfig())
                .withMessageContaining("stream-idle-timeout");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ProxySettings.from(Map.of("limits.max-concurrent-upstream-calls", "-1"))
                        .toConfig())
                .withMessageContaining("limits.max-concurrent-upstream-calls");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ProxySettings.from(Map.of("limits.max-concurrent-upstream-calls-per-client", "x"))
                        .toConfig())
                .withMessageContaining("limits.max-concurrent-upstream-calls-per-client");
    }

    @Test
    void environmentNamesFollowTheOpenAiSdksAndOnePattern() {
        assertThat(ProxySettings.environmentName("api-key")).isEqualTo("OPENAI_API_KEY");
        assertThat(ProxySettings.environmentName("base-url")).isEqualTo("OPENAI_BASE_URL");
        assertThat(ProxySettings.environmentName("cors.allowed-origins")).isEqualTo("OPENAI_PROXY_ALLOWED_ORIGINS");
        assertThat(ProxySettings.environmentName("sessions.context-messages"))
                .isEqualTo("OPENAI_PROXY_SESSIONS_CONTEXT_MESSAGES");
        ProxyConfig c = ProxySettings.fromEnvironment(Map.of("OPENAI_PROXY_CHAT_MAX_TOKENS", "12"))
                .toConfig();
        assertThat(c.chatDefaults().maxTokens()).isEqualTo(12);
    }

    @ParameterizedTest
    @CsvSource({
        "500ms, PT0.5S",
        "30s, PT30S",
        "10m, PT10M",
        "1h, PT1H",
        "30d, PT720H",
        "PT45S, PT45S",
        "P2D, PT48H",
        "90, PT1M30S"
    })
    void durationsTakeSpringsShortFormsIsoAndPlainSeconds(String text, String expected) {
        assertThat(ProxySettings.duration("k", text)).isEqualTo(Duration.parse(expected));
    }

    @ParameterizedTest
    @ValueSource(strings = {"soon", "10 minutes", "1.5h", "d"})
    void aMalformedDurationNamesItsKey(String text) {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ProxySettings.duration("cors.max-age", text))
                .withMessageContaining("'cors.max-age'");
    }

    @Test
    void aMalformedValueFailsNamingItsKey() {
        assertThatIllegalArgumentException()
                .isThrownBy(() ->
                        ProxySettings.from(Map.of("chat.max-tokens", "many")).toConfig())
                .withMessageContaining("'chat.max-tokens'");
        assertThatIllegalArgumentException()
                .isThrownBy(() ->
                        ProxySettings.from(Map.of("allow-client-key", "maybe")).toConfig())
                .withMessageContaining("'allow-client-key'");
        assertThatIllegalArgumentException()
                .isThrownBy(() ->
                        ProxySettings.from(Map.of("upstream-client", "netty")).toConfig())
                .withMessageContaining("'upstream-client'")
                .withMessageContaining("auto, jetty or jdk");
        assertThatIllegalArgumentException()
                .isThrownBy(
                        () -> ProxySettings.from(Map.of("max-body-size", "0")).toConfig())
                .withMessageContaining("'max-body-size'");
        assertThatIllegalArgumentException()
                .isThrownBy(
                        () -> ProxySettings.from(Map.of("base-url", "ftp://x")).toConfig())
                .withMessageContaining("'base-url'");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ProxySettings.from(Map.of("allowed-hosts", "https://chat.example.com"))
                        .toConfig())
                .withMessageContaining("'allowed-hosts'");
    }
}
