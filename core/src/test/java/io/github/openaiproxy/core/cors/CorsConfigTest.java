package io.github.openaiproxy.core.cors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CorsConfigTest {

    @Test
    void defaultsAllowNoOriginAndTheSdkHeaders() {
        CorsConfig config = CorsConfig.defaults();

        assertThat(config.allowedOrigins()).isEmpty();
        assertThat(config.allowedOriginPatterns()).isEmpty();
        assertThat(config.allowCredentials()).isFalse();
        assertThat(config.maxAge()).isEqualTo(Duration.ofSeconds(86400));
        assertThat(config.allowedHeaders()).contains("content-type", "authorization", "x-openai-key", "x-stainless-*");
    }

    @Test
    void wildcardOriginWithCredentialsIsRejectedNamingTheProperties() {
        CorsConfig.Builder builder = CorsConfig.builder().origins(List.of("*")).allowCredentials(true);

        assertThatIllegalArgumentException()
                .isThrownBy(builder::build)
                .withMessageContaining("allowed-origins")
                .withMessageContaining("allow-credentials");
    }

    @Test
    void wildcardPatternWithCredentialsIsRejected() {
        CorsConfig.Builder builder =
                CorsConfig.builder().allowedOriginPatterns(List.of("*")).allowCredentials(true);

        assertThatIllegalArgumentException().isThrownBy(builder::build).withMessageContaining("allow-credentials");
    }

    @Test
    void mixedOriginListIsSortedIntoExactOriginsAndPatterns() {
        CorsConfig config = CorsConfig.builder()
                .origins(List.of("https://chat.example.com/", " http://localhost:* ", "", "*", "https://*.example.com"))
                .build();

        assertThat(config.allowedOrigins()).containsExactly("https://chat.example.com", "*");
        assertThat(config.allowedOriginPatterns()).containsExactly("http://localhost:*", "https://*.example.com");
    }

    @Test
    void malformedPatternIsRejectedAtConstruction() {
        CorsConfig.Builder builder = CorsConfig.builder().allowedOriginPatterns(List.of("localhost:*"));

        assertThatIllegalArgumentException()
                .isThrownBy(builder::build)
                .withMessageContaining("cors origin pattern")
                .withMessageContaining("localhost:*");
    }

    @Test
    void negativeMaxAgeIsRejected() {
        CorsConfig.Builder builder = CorsConfig.builder().maxAge(Duration.ofSeconds(-1));

        assertThatIllegalArgumentException().isThrownBy(builder::build).withMessageContaining("max-age");
    }

    @Test
    void listsAreCopiedAndImmutable() {
        List<String> origins = new ArrayList<>(List.of("https://a.example.com"));
        CorsConfig config = new CorsConfig(origins, List.of(), List.of(), List.of(), Duration.ZERO, false);

        origins.add("https://b.example.com");

        assertThat(config.allowedOrigins()).containsExactly("https://a.example.com");
        assertThatThrownByAdding(config.allowedOrigins());
    }

    @Test
    void toBuilderKeepsEverySetting() {
        CorsConfig config = CorsConfig.builder()
                .origins(List.of("https://chat.example.com", "http://localhost:*"))
                .allowedHeaders(List.of("content-type"))
                .exposedHeaders(List.of("x-request-id"))
                .maxAge(Duration.ofMinutes(5))
                .allowCredentials(true)
                .build();

        assertThat(config.toBuilder().build()).isEqualTo(config);
    }

    private static void assertThatThrownByAdding(List<String> list) {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> list.add("x"))
                .isInstanceOf(UnsupportedOperationException.class);
    }
}
