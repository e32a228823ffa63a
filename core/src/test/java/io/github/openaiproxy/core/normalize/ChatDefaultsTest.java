package io.github.openaiproxy.core.normalize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import org.junit.jupiter.api.Test;

class ChatDefaultsTest {

    @Test
    void seedDefaultsAreThoseOfTheOriginalProxy() {
        assertThat(ChatDefaults.SEED.model()).isEqualTo("gpt-3.5-turbo");
        assertThat(ChatDefaults.SEED.temperature()).isEqualByComparingTo("0.7");
        assertThat(ChatDefaults.SEED.maxTokens()).isEqualTo(1000);
        assertThat(ChatDefaults.SEED.stream()).isFalse();
    }

    @Test
    void blankModelIsRejected() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ChatDefaults.SEED.withModel(" "))
                .withMessageContaining("model");
    }

    @Test
    void maxTokensBelowOneIsRejected() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ChatDefaults.SEED.withMaxTokens(0))
                .withMessageContaining("max-tokens");
    }

    @Test
    void imageDefaultsRejectAnOutOfRangeN() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> ImageDefaults.SEED.withN(11))
                .withMessageContaining("n");
    }

    @Test
    void seedImageDefaultsAreThoseOfTheOriginalProxy() {
        assertThat(ImageDefaults.SEED)
                .isEqualTo(new ImageDefaults("dall-e-3", 1, "1024x1024", "standard", "vivid", "url"));
    }
}
