package io.github.openaiproxy.core.normalize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import org.junit.jupiter.api.Test;

class ChatDefaultsTest {

    @Test
    void seedDefaultsAreThoseOfTheOriginalProxy() {
        assertThat(ChatDefaults.DEFAULTS.model()).isEqualTo("gpt-3.5-turbo");
        assertThat(ChatDefaults.DEFAULTS.temperature()).isEqualByComparingTo("0.7");
        assertThat(ChatDefaults.DEFAULTS.maxTokens()).isEqualTo(1000);
        assertThat(ChatDefaults.DEFAULTS.stream()).isFalse();
    }

    @Test
    void blankModelIsRejected() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ChatDefaults.DEFAULTS.withModel(" "))
                .withMessageContaining("model");
    }

    @Test
    void maxTokensBelowOneIsRejected() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ChatDefaults.DEFAULTS.withMaxTokens(0))
                .withMessageContaining("max-tokens");
    }

    @Test
    void imageDefaultsRejectAnOutOfRangeN() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ImageDefaults.DEFAULTS.withN(11))
                .withMessageContaining("n");
    }

    @Test
    void seedImageDefaultsAreThoseOfTheOriginalProxy() {
        assertThat(ImageDefaults.DEFAULTS)
                .isEqualTo(new ImageDefaults("dall-e-3", 1, "1024x1024", "standard", "vivid", "url"));
    }
}
