package io.github.openaiproxy.core.normalize;

import static io.github.openaiproxy.core.normalize.NormalizerFixture.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;
import java.math.BigDecimal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ChatRequestNormalizerTest {
    private static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]";

    private final NormalizerFixture seed =
            new NormalizerFixture(new ChatRequestNormalizer(ChatDefaults.DEFAULTS)::normalize);

    @Test
    void appliesTheSeedDefaultsWhenFieldsAreAbsent() {
        Normalized.Accepted accepted = seed.accepted("{" + MESSAGES + "}");

        assertThat(accepted.body())
                .isEqualTo(json("{" + MESSAGES
                        + ",\"model\":\"gpt-3.5-turbo\",\"temperature\":0.7,\"max_tokens\":1000,\"stream\":false}"));
        assertThat(accepted.upstreamPath()).isEqualTo("/v1/chat/completions");
        assertThat(accepted.stream()).isFalse();
        assertThat(accepted.model()).isEqualTo("gpt-3.5-turbo");
    }

    @Test
    void appliesTheDefaultsWhenFieldsAreNull() {
        ObjectNode body =
                seed.body("{" + MESSAGES + ",\"model\":null,\"temperature\":null,\"max_tokens\":null,\"stream\":null}");

        assertThat(body.get("model").textValue()).isEqualTo("gpt-3.5-turbo");
        assertThat(body.get("temperature").decimalValue()).isEqualByComparingTo("0.7");
        assertThat(body.get("max_tokens").intValue()).isEqualTo(1000);
        assertThat(body.get("stream").booleanValue()).isFalse();
    }

    @Test
    void keepsExplicitValuesIncludingZeroAndFalse() {
        String request = "{" + MESSAGES + ",\"model\":\"gpt-4o\",\"temperature\":0,\"max_tokens\":0,\"stream\":false}";

        assertThat(seed.body(request)).isEqualTo(json(request));
    }

    @Test
    void keepsStreamTrueAndReportsIt() {
        Normalized.Accepted accepted = seed.accepted("{" + MESSAGES + ",\"stream\":true}");

        assertThat(accepted.body().get("stream").booleanValue()).isTrue();
        assertThat(accepted.stream()).isTrue();
    }

    @Test
    void forwardsSamplingParametersAndUnknownFieldsUntouched() {
        ObjectNode body = seed.body("{" + MESSAGES + ",\"top_p\":0.9,\"frequency_penalty\":0.5,"
                + "\"presence_penalty\":-0.5,\"n\":2,\"tools\":[{\"type\":\"function\"}],"
                + "\"future_field\":{\"nested\":[1,2,3]}}");

        assertThat(body.get("top_p").decimalValue()).isEqualByComparingTo("0.9");
        assertThat(body.get("frequency_penalty").decimalValue()).isEqualByComparingTo("0.5");
        assertThat(body.get("presence_penalty").decimalValue()).isEqualByComparingTo("-0.5");
        assertThat(body.get("n").intValue()).isEqualTo(2);
        assertThat(body.get("tools"))
                .isEqualTo(json("{\"t\":[{\"type\":\"function\"}]}").get("t"));
        assertThat(body.get("future_field")).isEqualTo(json("{\"nested\":[1,2,3]}"));
    }

    @Test
    void removesTheActionField() {
        assertThat(seed.body("{" + MESSAGES + ",\"action\":\"chat\"}").has("action"))
                .isFalse();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"{}", "{\"messages\":null}", "{\"messages\":\"hi\"}", "{\"messages\":{}}", "{\"messages\":1}"})
    void messagesThatAreNotAnArrayAreRefusedWithTheSeedMessage(String request) {
        ProxyError error = seed.rejected(request);

        assertThat(error.message()).isEqualTo("messages field is required and must be an array");
        assertThat(error.param()).isEqualTo("messages");
    }

    @Test
    void emptyMessagesArrayIsRefusedBecauseOpenAiNeedsOne() {
        ProxyError error = seed.rejected("{\"messages\":[]}");
        assertThat(error.message()).isEqualTo("messages must contain at least one message");
        assertThat(error.param()).isEqualTo("messages");
    }

    @ParameterizedTest
    @ValueSource(strings = {"\"true\"", "1", "{}", "[]"})
    void streamThatIsNotABooleanIsRefused(String stream) {
        assertThat(seed.rejected("{" + MESSAGES + ",\"stream\":" + stream + "}").param())
                .isEqualTo("stream");
    }

    @ParameterizedTest
    @ValueSource(strings = {"1", "\"\"", "\"  \"", "[]", "true"})
    void modelThatIsNotANonEmptyStringIsRefused(String model) {
        assertThat(seed.rejected("{" + MESSAGES + ",\"model\":" + model + "}").param())
                .isEqualTo("model");
    }

    @Test
    void maxCompletionTokensSuppressesTheMaxTokensDefault() {
        ObjectNode body = seed.body("{" + MESSAGES + ",\"max_completion_tokens\":500}");

        assertThat(body.has("max_tokens")).isFalse();
        assertThat(body.get("max_completion_tokens").intValue()).isEqualTo(500);
    }

    @Test
    void nullMaxCompletionTokensStillGetsTheMaxTokensDefault() {
        assertThat(seed.body("{" + MESSAGES + ",\"max_completion_tokens\":null}")
                        .get("max_tokens")
                        .intValue())
                .isEqualTo(1000);
    }

    @Test
    void configuredDefaultsReplaceTheSeedOnes() {
        ChatDefaults defaults = ChatDefaults.DEFAULTS
                .withModel("gpt-4o-mini")
                .withTemperature(new BigDecimal("0.2"))
                .withMaxTokens(256)
                .withStream(true);
        NormalizerFixture custom = new NormalizerFixture(new ChatRequestNormalizer(defaults)::normalize);

        Normalized.Accepted accepted = custom.accepted("{" + MESSAGES + "}");

        assertThat(accepted.body())
                .isEqualTo(json("{" + MESSAGES
                        + ",\"model\":\"gpt-4o-mini\",\"temperature\":0.2,\"max_tokens\":256,\"stream\":true}"));
        assertThat(accepted.stream()).isTrue();
    }

    @Test
    void leavesTheCallersBodyUnchanged() {
        ObjectNode request = json("{" + MESSAGES + ",\"action\":\"chat\"}");
        ObjectNode copy = request.deepCopy();

        new ChatRequestNormalizer(ChatDefaults.DEFAULTS).normalize(request);

        assertThat(request).isEqualTo(copy);
    }
}
