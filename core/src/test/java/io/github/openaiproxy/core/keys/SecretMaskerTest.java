package io.github.openaiproxy.core.keys;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SecretMaskerTest {
    private static final ApiKey KEY =
            ApiKey.of("sk-proj-abcDEF0123456789ghijKLMN0123456789opqrSTUVwxyz").orElseThrow();

    /** OpenAI's answer to a wrong key echoes its start and end. */
    private static final String OPENAI_401 = "Incorrect API key provided: sk-proj-abc********wxyz. You can find your"
            + " API key at https://platform.openai.com/account/api-keys.";

    @Test
    void masksTheKeyEchoInOpenAisUnauthorizedMessage() {
        assertThat(SecretMasker.mask(OPENAI_401))
                .isEqualTo("Incorrect API key provided: [redacted]. You can find your API key at"
                        + " https://platform.openai.com/account/api-keys.");
    }

    @Test
    void masksTheKeyEchoCompletelyAlsoWhenTheKeyIsKnown() {
        assertThat(SecretMasker.mask(OPENAI_401, KEY))
                .isEqualTo("Incorrect API key provided: [redacted]. You can find your API key at"
                        + " https://platform.openai.com/account/api-keys.");
    }

    @Test
    void masksTheKeyEchoInsideOpenAisErrorJson() {
        String json = "{\"error\":{\"message\":\"" + OPENAI_401
                + "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";

        String masked = SecretMasker.mask(json, KEY);

        assertThat(masked)
                .doesNotContain("abc********wxyz")
                .contains("Incorrect API key provided: [redacted].")
                .contains("\"code\":\"invalid_api_key\"}}");
    }

    @Test
    void masksTheExactConfiguredKey() {
        ApiKey custom = ApiKey.of("my-company-gateway-secret-0042").orElseThrow();

        assertThat(SecretMasker.mask("key my-company-gateway-secret-0042 refused", custom))
                .isEqualTo("key [redacted] refused");
    }

    @ParameterizedTest
    @ValueSource(strings = {"gateway-secre", "ay-secret-00", "mpany-ga"})
    void masksEightCharacterPiecesOfTheConfiguredKey(String piece) {
        ApiKey custom = ApiKey.of("my-company-gateway-secret-0042").orElseThrow();

        String masked = SecretMasker.mask("prefix " + piece + " suffix", custom);

        assertThat(masked).startsWith("prefix ").endsWith(" suffix").contains("[redacted]");
        assertThat(masked).doesNotContain(piece.substring(0, 8));
    }

    @Test
    void leavesShorterPiecesOfTheKeyAlone() {
        ApiKey custom = ApiKey.of("my-company-gateway-secret-0042").orElseThrow();

        assertThat(SecretMasker.mask("my-comp", custom)).isEqualTo("my-comp");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "sk-abcdefghijklmnop",
                "sk-proj-AbC_dEf-123",
                "rk-live-0123456789",
                "sess-abcdefghij",
                "SK-UPPERCASE0123"
            })
    void masksKeyLikeTokens(String token) {
        assertThat(SecretMasker.mask("token " + token + " here")).isEqualTo("token [redacted] here");
    }

    @Test
    void masksBearerTokens() {
        assertThat(SecretMasker.mask("Authorization: Bearer eyJhbGciOi.J9eyJzdWIi.Ok5c_x-y"))
                .isEqualTo("Authorization: [redacted]");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "The model `gpt-4o` does not exist or you do not have access to it.",
                "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000.",
                "That model is currently overloaded with other requests. You can retry your request.",
                "Risk-free task-based desk-work; see https://platform.openai.com/account/api-keys.",
                "You exceeded your current quota, please check your plan and billing details.",
                "{\"error\":{\"message\":\"Invalid value for 'n'.\",\"type\":\"invalid_request_error\"}}"
            })
    void leavesNormalTextUntouched(String text) {
        assertThat(SecretMasker.mask(text, KEY)).isEqualTo(text);
    }

    @Test
    void nullAndEmptyTextPassThrough() {
        assertThat(SecretMasker.mask(null, KEY)).isNull();
        assertThat(SecretMasker.mask("", KEY)).isEmpty();
    }
}
