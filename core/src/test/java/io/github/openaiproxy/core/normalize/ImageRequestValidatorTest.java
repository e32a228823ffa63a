package io.github.openaiproxy.core.normalize;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.error.ProxyError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What each image model accepts, after OpenAI's specification (CreateImageRequest). Each case is a set of
 * fields added to {@code {"prompt":"x"}}; a refusal must name the field at fault.
 */
class ImageRequestValidatorTest {
    private final NormalizerFixture seed =
            new NormalizerFixture(new ImageRequestNormalizer(ImageDefaults.DEFAULTS)::normalize);

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            "model":"dall-e-2","size":"256x256"
            "model":"dall-e-2","size":"512x512"
            "model":"dall-e-2","size":"1024x1024"
            "model":"dall-e-2","n":1
            "model":"dall-e-2","n":10
            "model":"dall-e-2","quality":"standard"
            "model":"dall-e-2","quality":"auto"
            "model":"dall-e-2","style":"natural"
            "model":"dall-e-2","response_format":"b64_json"
            "model":"dall-e-2","stream":false
            "model":"dall-e-3","size":"1024x1024"
            "model":"dall-e-3","size":"1792x1024"
            "model":"dall-e-3","size":"1024x1792"
            "model":"dall-e-3","n":1
            "model":"dall-e-3","quality":"standard"
            "model":"dall-e-3","quality":"hd"
            "model":"dall-e-3","quality":"auto"
            "model":"dall-e-3","style":"vivid"
            "model":"dall-e-3","style":"natural"
            "model":"dall-e-3","response_format":"url"
            "model":"dall-e-3","response_format":"b64_json"
            "model":"DALL-E-3","quality":"hd"
            "model":"gpt-image-1","size":"auto"
            "model":"gpt-image-1","size":"1024x1024"
            "model":"gpt-image-1","size":"1536x1024"
            "model":"gpt-image-1","size":"1024x1536"
            "model":"gpt-image-1","n":10
            "model":"gpt-image-1","quality":"auto"
            "model":"gpt-image-1","quality":"low"
            "model":"gpt-image-1","quality":"medium"
            "model":"gpt-image-1","quality":"high"
            "model":"gpt-image-1","background":"transparent","output_format":"png"
            "model":"gpt-image-1","background":"opaque"
            "model":"gpt-image-1","background":"auto"
            "model":"gpt-image-1","output_format":"jpeg","output_compression":0
            "model":"gpt-image-1","output_format":"webp","output_compression":100
            "model":"gpt-image-1","moderation":"low"
            "model":"gpt-image-1","moderation":"auto"
            "model":"gpt-image-1","stream":true,"partial_images":3
            "model":"gpt-image-1","partial_images":0
            "model":"gpt-image-1-mini","size":"1536x1024"
            "model":"gpt-image-1.5","quality":"high"
            "model":"gpt-image-2","size":"1536x864"
            "model":"gpt-image-2","size":"3840x2160"
            "model":"gpt-image-2","size":"2160x3840"
            "model":"gpt-image-2","size":"auto"
            "model":"gpt-image-2-2026-04-21","size":"2048x1152"
            """)
    void accepts(String fields) {
        assertThat(seed.normalize("{\"prompt\":\"x\"," + fields + "}")).isInstanceOf(Normalized.Accepted.class);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            "model":"dall-e-2","size":"1792x1024"                       | size
            "model":"dall-e-2","size":"1024X1024"                       | size
            "model":"dall-e-2","size":1024                              | size
            "model":"dall-e-2","n":0                                    | n
            "model":"dall-e-2","n":11                                   | n
            "model":"dall-e-2","n":1.5                                  | n
            "model":"dall-e-2","n":"2"                                  | n
            "model":"dall-e-2","quality":"hd"                           | quality
            "model":"dall-e-2","style":"noir"                           | style
            "model":"dall-e-2","response_format":"png"                  | response_format
            "model":"dall-e-2","background":"transparent"               | background
            "model":"dall-e-2","stream":true                            | stream
            "model":"dall-e-3","size":"512x512"                         | size
            "model":"dall-e-3","size":"1536x1024"                       | size
            "model":"dall-e-3","n":2                                    | n
            "model":"dall-e-3","quality":"high"                         | quality
            "model":"dall-e-3","quality":"HD"                           | quality
            "model":"dall-e-3","style":"noir"                           | style
            "model":"dall-e-3","response_format":"png"                  | response_format
            "model":"dall-e-3","output_format":"png"                    | output_format
            "model":"dall-e-3","output_compression":50                  | output_compression
            "model":"dall-e-3","moderation":"low"                       | moderation
            "model":"dall-e-3","partial_images":1                       | partial_images
            "model":"dall-e-3","stream":true                            | stream
            "size":"256x256"                                            | size
            "model":"gpt-image-1","size":"1792x1024"                    | size
            "model":"gpt-image-1","size":"1536x864"                     | size
            "model":"gpt-image-1","n":11                                | n
            "model":"gpt-image-1","quality":"standard"                  | quality
            "model":"gpt-image-1","quality":"hd"                        | quality
            "model":"gpt-image-1","style":"vivid"                       | style
            "model":"gpt-image-1","response_format":"b64_json"          | response_format
            "model":"gpt-image-1","response_format":"url"               | response_format
            "model":"gpt-image-1","background":"white"                  | background
            "model":"gpt-image-1","output_format":"gif"                 | output_format
            "model":"gpt-image-1","moderation":"high"                   | moderation
            "model":"gpt-image-1","output_compression":-1               | output_compression
            "model":"gpt-image-1","output_compression":101              | output_compression
            "model":"gpt-image-1","output_compression":50.5             | output_compression
            "model":"gpt-image-1","output_compression":"50"             | output_compression
            "model":"gpt-image-1","partial_images":4                    | partial_images
            "model":"gpt-image-1-mini","style":"natural"                | style
            "model":"gpt-image-2","size":"1000x1000"                    | size
            "model":"gpt-image-2","size":"3072x768"                     | size
            "model":"gpt-image-2","size":"4096x2048"                    | size
            "model":"gpt-image-2","size":"3840x2176"                    | size
            "model":"gpt-image-2","size":"big"                          | size
            "model":"gpt-image-2","size":"1024x1024x2"                  | size
            "model":"gpt-image-2","response_format":"url"               | response_format
            """)
    void refusesNamingTheField(String fields, String param) {
        ProxyError error = seed.rejected("{\"prompt\":\"x\"," + fields + "}");

        assertThat(error.param()).isEqualTo(param);
        assertThat(error.message()).contains(param);
        assertThat(error.type()).isEqualTo("invalid_request_error");
    }

    @ParameterizedTest(name = "{0}: {1} characters")
    @CsvSource({"dall-e-2, 1000", "dall-e-3, 4000", "gpt-image-1, 32000"})
    void promptMayBeAsLongAsTheModelAllowsAndNoLonger(String model, int max) {
        String atLimit = "{\"model\":\"" + model + "\",\"prompt\":\"" + "p".repeat(max) + "\"}";
        String overLimit = "{\"model\":\"" + model + "\",\"prompt\":\"" + "p".repeat(max + 1) + "\"}";

        assertThat(seed.normalize(atLimit)).isInstanceOf(Normalized.Accepted.class);
        assertThat(seed.rejected(overLimit).param()).isEqualTo("prompt");
    }

    @Test
    void dallE3RefusalOfNSaysOnlyOneIsSupported() {
        assertThat(seed.rejected("{\"prompt\":\"x\",\"n\":2}").message()).isEqualTo("n must be 1 for dall-e-3");
    }

    @Test
    void nullFieldsAreTreatedAsAbsent() {
        assertThat(seed.normalize("{\"prompt\":\"x\",\"model\":\"gpt-image-1\",\"style\":null,"
                        + "\"response_format\":null,\"background\":null}"))
                .isInstanceOf(Normalized.Accepted.class);
    }
}
