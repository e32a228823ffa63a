package io.github.openaiproxy.core.normalize;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ImageModelTest {

    @ParameterizedTest
    @CsvSource({
        "dall-e-2, DALL_E_2",
        "dall-e-3, DALL_E_3",
        "Dall-E-3, DALL_E_3",
        "gpt-image-1, GPT_IMAGE",
        "gpt-image-1-mini, GPT_IMAGE",
        "gpt-image-1.5, GPT_IMAGE",
        "gpt-image-2, GPT_IMAGE",
        "gpt-image-2-2026-04-21, GPT_IMAGE",
        "gpt-image-1-mini-2025-10-06, GPT_IMAGE",
        "gpt-image-1.5-2025-12-16, GPT_IMAGE"
    })
    void knowsTheModelsOfTheSpecification(String name, ImageModel.Family family) {
        assertThat(ImageModel.forName(name))
                .hasValueSatisfying(m -> assertThat(m.family()).isEqualTo(family));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "dall-e",
                "dall-e-4",
                "my-image-model",
                "chatgpt-image-latest",
                "",
                "gpt-image-2.5-flare",
                "gpt-image-2.5-sunburst-2026-09-08",
                "gpt-image-1.6",
                "gpt-image-10",
                "gpt-image-3"
            })
    void unknownModelsHaveNoRules(String name) {
        assertThat(ImageModel.forName(name)).isEmpty();
    }

    @Test
    void onlyGptImage2TakesFreeFormSizes() {
        assertThat(ImageModel.forName("gpt-image-2").orElseThrow().acceptsSize("1536x864"))
                .isTrue();
        assertThat(ImageModel.forName("gpt-image-1").orElseThrow().acceptsSize("1536x864"))
                .isFalse();
        assertThat(ImageModel.forName("gpt-image-1.5").orElseThrow().acceptsSize("1536x864"))
                .isFalse();
    }

    @ParameterizedTest
    @CsvSource({
        "1536x864, true",
        "3840x2160, true",
        "2160x3840, true",
        "1280x3840, true",
        "1024x3840, false", // ratio over 1:3
        "1600x1600, true",
        "1601x1600, false", // not a multiple of 16
        "3856x2160, false", // edge over 3840
        "3840x2176, false", // more pixels than 3840x2160
        "+1536x864, false",
        "1536 x 864, false"
    })
    void gptImage2SizeRules(String size, boolean accepted) {
        assertThat(ImageModel.forName("gpt-image-2").orElseThrow().acceptsSize(size))
                .isEqualTo(accepted);
    }

    @Test
    void sizeDescriptionListsTheSizes() {
        assertThat(ImageModel.forName("dall-e-3").orElseThrow().describeSizes())
                .isEqualTo("1024x1024, 1024x1792, 1792x1024");
    }
}
