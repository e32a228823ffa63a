package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import io.github.openaiproxy.core.route.PassThroughRoute;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ProxyConfigTest {

    @Test
    void defaultsAreASafeProxyForOpenAi() {
        ProxyConfig d = ProxyConfig.defaults();

        assertThat(d.path()).isEqualTo("/");
        assertThat(d.keys().serverKey()).isEmpty();
        assertThat(d.keys().allowClientKey()).isFalse();
        assertThat(d.cors().allowedOrigins()).isEmpty();
        assertThat(d.cors().allowedOriginPatterns()).isEmpty();
        assertThat(d.maxBodySize()).isEqualTo(10L * 1024 * 1024);
        assertThat(d.maxEventSize()).isEqualTo(16 * 1024 * 1024);
        assertThat(d.passThroughRoutes()).isEqualTo(PassThroughRoute.DEFAULTS);
        assertThat(d.upstream().baseUrl()).hasToString("https://api.openai.com");
    }

    @ParameterizedTest(name = "''{0}'' -> {1}")
    @CsvSource({"'', /", "/, /", "' / ', /", "ai, /ai", "/ai, /ai", "/ai/, /ai", "/ai//, /ai", "/a/b/, /a/b"})
    void normalizesTheMountPath(String path, String expected) {
        assertThat(ProxyConfig.builder().path(path).build().path()).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/ai/*", "/ai?x", "/../ai", "/ai/.."})
    void refusesMountPathsThatAreNotPlainPaths(String path) {
        ProxyConfig.Builder builder = ProxyConfig.builder().path(path);

        assertThatIllegalArgumentException().isThrownBy(builder::build).withMessageContaining("path");
    }

    @Test
    void refusesNonPositiveSizesNamingTheSetting() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ProxyConfig.builder().maxBodySize(0).build())
                .withMessage("max-body-size must be positive");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ProxyConfig.builder().maxEventSize(-1).build())
                .withMessage("max-event-size must be positive");
    }

    @Test
    void blankApiKeyMeansNone() {
        assertThat(ProxyConfig.builder().apiKey("  ").build().keys().serverKey())
                .isEmpty();
        assertThat(ProxyConfig.builder().apiKey(null).build().keys().serverKey())
                .isEmpty();
    }

    @Test
    void toBuilderKeepsEverySetting() {
        ProxyConfig config = ProxyConfig.builder()
                .path("/ai")
                .apiKey("sk-server-0001")
                .allowClientKey(true)
                .maxBodySize(1234)
                .maxEventSize(5678)
                .passThroughRoutes(List.of(PassThroughRoute.parse("GET /v1/models")))
                .build();

        ProxyConfig copy = config.toBuilder().build();

        assertThat(copy.path()).isEqualTo("/ai");
        assertThat(copy.keys()).isEqualTo(config.keys());
        assertThat(copy.maxBodySize()).isEqualTo(1234);
        assertThat(copy.maxEventSize()).isEqualTo(5678);
        assertThat(copy.passThroughRoutes()).isEqualTo(config.passThroughRoutes());
        assertThat(copy.upstream()).isEqualTo(config.upstream());
        assertThat(copy.cors()).isEqualTo(config.cors());
    }

    @Test
    void toStringNeverShowsTheKey() {
        ProxyConfig config =
                ProxyConfig.builder().apiKey("sk-server-secret-0001").build();

        assertThat(config.toString()).doesNotContain("sk-server-secret-0001").contains("configured");
    }
}
