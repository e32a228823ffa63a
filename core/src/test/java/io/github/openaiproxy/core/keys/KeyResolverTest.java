package io.github.openaiproxy.core.keys;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.keys.KeyResolver.Resolution;
import java.net.http.HttpHeaders;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class KeyResolverTest {
    private static final ApiKey SERVER = ApiKey.of("sk-server-key-0001").orElseThrow();

    @Test
    void usesTheServerKey() {
        Resolution r = new KeyResolver(new KeyPolicy(Optional.of(SERVER), false)).resolve(headers(Map.of()));

        assertThat(r).isEqualTo(new Resolution.Resolved(SERVER, false));
    }

    @Test
    void clientAuthorizationIsNeverUsed() {
        Resolution r = new KeyResolver(new KeyPolicy(Optional.of(SERVER), true))
                .resolve(headers(Map.of("Authorization", List.of("Bearer sk-client-placeholder"))));

        assertThat(r).isEqualTo(new Resolution.Resolved(SERVER, false));
    }

    @Test
    void withoutAnyKeyTheRequestIsRefusedWithTheSeedMessage() {
        Resolution r = new KeyResolver(KeyPolicy.none()).resolve(headers(Map.of()));

        assertThat(r).isInstanceOfSatisfying(Resolution.Refused.class, refused -> {
            assertThat(refused.error().status()).isEqualTo(500);
            assertThat(refused.error().title()).isEqualTo("Configuration Error");
            assertThat(refused.error().message()).isEqualTo("OpenAI API key is not configured");
        });
    }

    @Test
    void clientKeyIsRefusedWhenDisabled() {
        Resolution r = new KeyResolver(new KeyPolicy(Optional.of(SERVER), false))
                .resolve(headers(Map.of("x-openai-key", List.of("sk-client-0002"))));

        assertThat(r)
                .isInstanceOfSatisfying(
                        Resolution.Refused.class,
                        refused -> assertThat(refused.error().status()).isEqualTo(403));
    }

    @Test
    void clientKeyIsUsedWhenEnabled() {
        Resolution r = new KeyResolver(new KeyPolicy(Optional.of(SERVER), true))
                .resolve(headers(Map.of("X-OpenAI-Key", List.of("sk-client-0002"))));

        assertThat(r)
                .isEqualTo(new Resolution.Resolved(ApiKey.of("sk-client-0002").orElseThrow(), true));
    }

    @Test
    void aClientKeyThatCannotGoInAHeaderIsRefusedWith400() {
        Resolution r = new KeyResolver(new KeyPolicy(Optional.of(SERVER), true))
                .resolve(headers(Map.of("x-openai-key", List.of("sk-client-\u200b0002"))));

        assertThat(r).isInstanceOfSatisfying(Resolution.Refused.class, refused -> {
            assertThat(refused.error().status()).isEqualTo(400);
            assertThat(refused.error().code()).isEqualTo("invalid_client_key");
            assertThat(refused.error().message()).doesNotContain("0002");
        });
    }

    @Test
    void emptyClientKeyCountsAsAbsent() {
        KeyResolver disabled = new KeyResolver(new KeyPolicy(Optional.of(SERVER), false));

        assertThat(disabled.resolve(headers(Map.of("x-openai-key", List.of("")))))
                .isEqualTo(new Resolution.Resolved(SERVER, false));
        assertThat(disabled.resolve(headers(Map.of("x-openai-key", List.of("  ")))))
                .isEqualTo(new Resolution.Resolved(SERVER, false));
    }

    private static HttpHeaders headers(Map<String, List<String>> map) {
        return HttpHeaders.of(map, (n, v) -> true);
    }
}
