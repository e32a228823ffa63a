package io.github.openaiproxy.core.normalize;

import static io.github.openaiproxy.core.normalize.NormalizerFixture.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Prompt checks and defaults; the per-model rules are in {@link ImageRequestValidatorTest}. */
class ImageRequestNormalizerTest {
    private final NormalizerFixture seed =
            new NormalizerFixture(new ImageRequestNormalizer(ImageDefaults.DEFAULTS)::normalize);

    @Test
    void appliesTheSeedDefaultsForDallE3() {
        Normalized.Accepted accepted = seed.accepted("{\"prompt\":\"A cat sitting on a rainbow\"}");

        assertThat(accepted.body())
                .isEqualTo(json("{\"prompt\":\"A cat sitting on a rainbow\",\"model\":\"dall-e-3\",\"n\":1,"
                        + "\"size\":\"1024x1024\",\"quality\":\"standard\",\"style\":\"vivid\","
                        + "\"response_format\":\"url\"}"));
        assertThat(accepted.upstreamPath()).isEqualTo("/v1/images/generations");
        assertThat(accepted.model()).isEqualTo("dall-e-3");
        assertThat(accepted.stream()).isFalse();
    }

    @Test
    void appliesTheDefaultsWhenFieldsAreNull() {
        ObjectNode body = seed.body("{\"prompt\":\"x\",\"model\":null,\"n\":null,\"size\":null,\"quality\":null,"
                + "\"style\":null,\"response_format\":null}");

        assertThat(body).isEqualTo(seed.body("{\"prompt\":\"x\"}"));
    }

    @Test
    void keepsExplicitValues() {
        String request = "{\"prompt\":\"x\",\"model\":\"dall-e-3\",\"n\":1,\"size\":\"1792x1024\",\"quality\":\"hd\","
                + "\"style\":\"natural\",\"response_format\":\"b64_json\",\"user\":\"user-1234\"}";

        assertThat(seed.body(request)).isEqualTo(json(request));
    }

    @Test
    void removesTheActionField() {
        assertThat(seed.body("{\"action\":\"generate-image\",\"prompt\":\"x\"}").has("action"))
                .isFalse();
    }

    @Test
    void dropsAChatMessagesFieldThatOpenAisImageEndpointWouldRefuse() {
        assertThat(seed.body("{\"action\":\"generate-image\",\"prompt\":\"x\",\"messages\":[]}")
                        .has("messages"))
                .isFalse();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{}",
                "{\"prompt\":null}",
                "{\"prompt\":\"\"}",
                "{\"prompt\":\"   \"}",
                "{\"prompt\":42}",
                "{\"prompt\":[\"a cat\"]}",
                "{\"prompt\":{\"text\":\"a cat\"}}"
            })
    void missingEmptyOrNonStringPromptIsRefused(String request) {
        ProxyError error = seed.rejected(request);

        assertThat(error.param()).isEqualTo("prompt");
        assertThat(error.message()).contains("prompt");
    }

    @ParameterizedTest
    @ValueSource(strings = {"1", "\"\"", "[]"})
    void modelThatIsNotANonEmptyStringIsRefused(String model) {
        assertThat(seed.rejected("{\"prompt\":\"x\",\"model\":" + model + "}").param())
                .isEqualTo("model");
    }

    @Test
    void streamThatIsNotABooleanIsRefused() {
        assertThat(seed.rejected("{\"prompt\":\"x\",\"model\":\"gpt-image-1\",\"stream\":\"yes\"}")
                        .param())
                .isEqualTo("stream");
    }

    @Test
    void dallE2GetsItsDefaultsButNeverQualityNorStyle() {
        ObjectNode body = seed.body("{\"prompt\":\"x\",\"model\":\"dall-e-2\"}");

        assertThat(body)
                .isEqualTo(json("{\"prompt\":\"x\",\"model\":\"dall-e-2\",\"n\":1,\"size\":\"1024x1024\","
                        + "\"response_format\":\"url\"}"));
    }

    @Test
    void explicitAutoQualityIsKeptForDallE3() {
        assertThat(seed.body("{\"prompt\":\"x\",\"quality\":\"auto\"}")
                        .get("quality")
                        .textValue())
                .isEqualTo("auto");
    }

    @Test
    void dallE2DropsAnExplicitQualityAndStyle() {
        ObjectNode body =
                seed.body("{\"prompt\":\"x\",\"model\":\"dall-e-2\",\"quality\":\"standard\",\"style\":\"vivid\"}");

        assertThat(body.has("quality")).isFalse();
        assertThat(body.has("style")).isFalse();
    }

    @Test
    void gptImageModelsGetNoQualityStyleNorResponseFormatDefault() {
        ObjectNode body = seed.body("{\"prompt\":\"x\",\"model\":\"gpt-image-1\"}");

        assertThat(body).isEqualTo(json("{\"prompt\":\"x\",\"model\":\"gpt-image-1\",\"n\":1,\"size\":\"1024x1024\"}"));
    }

    @Test
    void gptImageStreamIsReported() {
        Normalized.Accepted accepted = seed.accepted("{\"prompt\":\"x\",\"model\":\"gpt-image-1\",\"stream\":true}");

        assertThat(accepted.stream()).isTrue();
    }

    @Test
    void unknownModelGetsNoModelSpecificChecksNorDefaults() {
        String request = "{\"prompt\":\"x\",\"model\":\"my-image-model\",\"n\":50,\"size\":\"7x7\","
                + "\"quality\":\"ultra\",\"style\":\"noir\",\"response_format\":\"svg\",\"background\":\"plaid\"}";

        assertThat(seed.body(request)).isEqualTo(json(request));
        assertThat(seed.body("{\"prompt\":\"x\",\"model\":\"my-image-model\"}"))
                .isEqualTo(json("{\"prompt\":\"x\",\"model\":\"my-image-model\"}"));
    }

    @Test
    void defaultThatTheModelDoesNotAcceptIsNotAdded() {
        ImageDefaults defaults = ImageDefaults.DEFAULTS.withSize("1792x1024").withN(4);
        NormalizerFixture custom = new NormalizerFixture(new ImageRequestNormalizer(defaults)::normalize);

        ObjectNode dallE2 = custom.body("{\"prompt\":\"x\",\"model\":\"dall-e-2\"}");
        ObjectNode dallE3 = custom.body("{\"prompt\":\"x\"}");

        assertThat(dallE2.has("size")).as("1792x1024 is no dall-e-2 size").isFalse();
        assertThat(dallE2.get("n").intValue()).isEqualTo(4);
        assertThat(dallE3.get("size").textValue()).isEqualTo("1792x1024");
        assertThat(dallE3.has("n")).as("dall-e-3 takes only n=1").isFalse();
    }

    @Test
    void configuredDefaultModelIsUsed() {
        NormalizerFixture custom = new NormalizerFixture(
                new ImageRequestNormalizer(ImageDefaults.DEFAULTS.withModel("gpt-image-1"))::normalize);

        Normalized.Accepted accepted = custom.accepted("{\"prompt\":\"x\"}");

        assertThat(accepted.model()).isEqualTo("gpt-image-1");
        assertThat(accepted.body().has("quality"))
                .as("standard is no gpt-image-1 quality")
                .isFalse();
    }

    @Test
    void leavesTheCallersBodyUnchanged() {
        ObjectNode request = json("{\"action\":\"generate-image\",\"prompt\":\"x\"}");
        ObjectNode copy = request.deepCopy();

        new ImageRequestNormalizer(ImageDefaults.DEFAULTS).normalize(request);

        assertThat(request).isEqualTo(copy);
    }
}
