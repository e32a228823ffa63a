package io.github.openaiproxy.core.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What is masked: key-shaped tokens by their shape, and the whole key; never a piece of the key, since a
 * masked piece would tell a client which of its guesses was right.
 */
class SecretMaskerTest {
    private static final String SK = "sk-proj-abcDEF0123456789ghijKLMN0123456789opqrSTUVwxyz";
    private static final String CUSTOM = "my-company-gateway-secret-0042";
    private static final ApiKey SK_KEY = ApiKey.of(SK).orElseThrow();
    private static final ApiKey CUSTOM_KEY = ApiKey.of(CUSTOM).orElseThrow();

    /** OpenAI's answer to a wrong key echoes its start and end. */
    private static final String OPENAI_401 = "Incorrect API key provided: sk-proj-abc********wxyz. You can find your"
            + " API key at https://platform.openai.com/account/api-keys.";

    private static final String OPENAI_401_MASKED = "Incorrect API key provided: [redacted]. You can find your"
            + " API key at https://platform.openai.com/account/api-keys.";

    /** Case, text, key (or {@code null}), expected result. */
    static Stream<Arguments> cases() {
        return Stream.of(
                // Key-shaped tokens, whatever the key.
                arguments("401 echo, no key", OPENAI_401, null, OPENAI_401_MASKED),
                arguments("401 echo, its key", OPENAI_401, SK_KEY, OPENAI_401_MASKED),
                arguments("401 echo, other key", OPENAI_401, CUSTOM_KEY, OPENAI_401_MASKED),
                arguments(
                        "401 echo inside JSON",
                        "{\"error\":{\"message\":\"" + OPENAI_401 + "\",\"code\":\"invalid_api_key\"}}",
                        SK_KEY,
                        "{\"error\":{\"message\":\"" + OPENAI_401_MASKED + "\",\"code\":\"invalid_api_key\"}}"),
                arguments("sk- token", "token sk-abcdefghijklmnop here", null, "token [redacted] here"),
                arguments("sk-proj- token", "token sk-proj-AbC_dEf-123 here", null, "token [redacted] here"),
                arguments("rk- token", "token rk-live-0123456789 here", null, "token [redacted] here"),
                arguments("sess- token", "token sess-abcdefghij here", null, "token [redacted] here"),
                arguments("upper case", "token SK-UPPERCASE0123 here", null, "token [redacted] here"),
                arguments(
                        "bearer token",
                        "Authorization: Bearer eyJhbGciOi.J9eyJzdWIi.Ok5c_x-y",
                        null,
                        "Authorization: [redacted]"),
                arguments("a prefix of the key is key-shaped", "model sk-proj-abcDEF", SK_KEY, "model [redacted]"),
                arguments("so is an unrelated one", "model sk-proj-zzzZZZ", SK_KEY, "model [redacted]"),
                arguments("the key with one char changed", "m " + changed(SK) + ".", SK_KEY, "m [redacted]."),
                // The whole key.
                arguments("whole sk key", "key " + SK + " refused", SK_KEY, "key [redacted] refused"),
                arguments("whole custom key", "key " + CUSTOM + " refused", CUSTOM_KEY, "key [redacted] refused"),
                arguments("custom key twice", CUSTOM + "/" + CUSTOM, CUSTOM_KEY, "[redacted]/[redacted]"),
                arguments(
                        "short custom key is not searched for",
                        "key gw-secret-42 refused",
                        ApiKey.of("gw-secret-42").orElseThrow(),
                        "key gw-secret-42 refused"),
                // Never pieces of the key.
                arguments("8-char window of a custom key", "x gateway- y", CUSTOM_KEY, "x gateway- y"),
                arguments("long piece of a custom key", "x company-gateway-secret y", CUSTOM_KEY, null),
                arguments("custom key, one char changed", "x " + changed(CUSTOM) + " y", CUSTOM_KEY, null),
                arguments("custom key, last char missing", "x " + CUSTOM.substring(1) + " y", CUSTOM_KEY, null),
                arguments("8-char window of an sk key", "model DEF01234", SK_KEY, "model DEF01234"),
                arguments("sk key without its prefix", SK.substring(3), SK_KEY, SK.substring(3)),
                arguments("sk key's suffix", "model " + SK.substring(20), SK_KEY, null),
                arguments("starred tail stays", "[redacted]****wxyz", SK_KEY, null),
                // Ordinary text.
                arguments(
                        "model_not_found",
                        "The model `gpt-4o` does not exist or you do not have access to it.",
                        SK_KEY,
                        null),
                arguments(
                        "rate limit",
                        "Rate limit reached for gpt-4o in organization org-abc on tokens per min.",
                        SK_KEY,
                        null),
                arguments(
                        "words with sk-",
                        "Risk-free task-based desk-work; see https://platform.openai.com/account.",
                        SK_KEY,
                        null),
                arguments(
                        "JSON",
                        "{\"error\":{\"message\":\"Invalid value for 'n'.\",\"type\":\"invalid_request_error\"}}",
                        SK_KEY,
                        null),
                arguments("empty", "", SK_KEY, ""));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void masks(String name, String text, ApiKey key, String expected) {
        // null expected: the text comes back unchanged.
        assertThat(SecretMasker.mask(text, key)).isEqualTo(expected == null ? text : expected);
    }

    @Test
    void nullTextPassesThrough() {
        assertThat(SecretMasker.mask(null, SK_KEY)).isNull();
        assertThat(SecretMasker.mask(null)).isNull();
    }

    /**
     * No text short of the whole key is treated differently because of the key: every substring of the key,
     * and every one-character change of it, alone and inside a sentence, masks exactly as with no key at all.
     */
    @ParameterizedTest
    @MethodSource("keys")
    void theResultDependsOnTheKeyOnlyThroughTheWholeKey(String secret) {
        ApiKey key = ApiKey.of(secret).orElseThrow();
        for (String probe : probes(secret)) {
            for (String text : List.of(probe, "The model `" + probe + "` does not exist", "a" + probe + "b")) {
                assertThat(SecretMasker.mask(text, key)).as("text %s", text).isEqualTo(SecretMasker.mask(text));
            }
        }
    }

    static Stream<String> keys() {
        return Stream.of(SK, CUSTOM, "0123456789abcdef0123");
    }

    /** Every proper substring of the key and every one-character change of it. */
    static List<String> probes(String secret) {
        List<String> probes = new ArrayList<>();
        for (int from = 0; from < secret.length(); from++) {
            for (int to = from + 1; to <= secret.length(); to++) {
                if (to - from < secret.length()) {
                    probes.add(secret.substring(from, to));
                }
            }
        }
        for (int i = 0; i < secret.length(); i++) {
            char c = secret.charAt(i) == 'x' ? 'y' : 'x';
            probes.add(secret.substring(0, i) + c + secret.substring(i + 1));
        }
        return probes;
    }

    private static String changed(String secret) {
        char last = secret.charAt(secret.length() - 1);
        return secret.substring(0, secret.length() - 1) + (last == 'Q' ? 'R' : 'Q');
    }
}
