package io.github.openaiproxy.core.keys;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class ApiKeyTest {
    private static final String SECRET = "sk-proj-abcdef0123456789";

    @Test
    void toStringNeverRevealsTheSecret() {
        ApiKey key = ApiKey.of(SECRET).orElseThrow();

        assertThat(key.toString()).doesNotContain(SECRET).doesNotContain("sk-").doesNotContain("6789");
        assertThat(String.valueOf(Optional.of(key))).doesNotContain(SECRET);
        assertThat(new KeyPolicy(Optional.of(key), true).toString()).doesNotContain(SECRET);
    }

    @Test
    void revealGivesTheStrippedSecret() {
        assertThat(ApiKey.of("  " + SECRET + "\n").orElseThrow().reveal()).isEqualTo(SECRET);
    }

    @ParameterizedTest
    @NullSource
    @ValueSource(strings = {"", "   ", "\t\n"})
    void blankTextIsNoKey(String text) {
        assertThat(ApiKey.of(text)).isEmpty();
    }

    @Test
    void keysWithTheSameSecretAreEqual() {
        assertThat(ApiKey.of(SECRET)).isEqualTo(ApiKey.of(SECRET));
        assertThat(ApiKey.of(SECRET).orElseThrow().hashCode())
                .isEqualTo(ApiKey.of(SECRET).orElseThrow().hashCode());
        assertThat(ApiKey.of(SECRET)).isNotEqualTo(ApiKey.of(SECRET + "x"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sk-proj-abc_DEF-123", "my-gateway~secret/0042+=", "key with space"})
    void printableAsciiKeysCanBeSentInAHeader(String secret) {
        assertThat(ApiKey.of(secret).orElseThrow().isHeaderSafe()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"sk-\u200babc", "sk-abc\u00a0def", "sk-\u00e9t\u00e9", "sk-a\tb", "sk-a\u007fb", "sk-\u20acx"})
    void otherCharactersCannot(String secret) {
        assertThat(ApiKey.of(secret).orElseThrow().isHeaderSafe()).isFalse();
    }
}
