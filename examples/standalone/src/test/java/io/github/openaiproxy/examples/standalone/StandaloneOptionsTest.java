package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class StandaloneOptionsTest {
    @Test
    void defaultsToPort8787OnLoopbackWithoutDemo() {
        StandaloneOptions o = StandaloneOptions.parse(new String[0], Map.of());
        assertThat(o).isEqualTo(new StandaloneOptions(8787, "127.0.0.1", false));
        assertThat(StandaloneOptions.parse(new String[0], Map.of("HOST", " ")).host())
                .isEqualTo("127.0.0.1");
    }

    @Test
    void hostChoosesTheAddressToBind() {
        assertThat(StandaloneOptions.parse(new String[0], Map.of("HOST", "0.0.0.0"))
                        .host())
                .isEqualTo("0.0.0.0");
    }

    @Test
    void onlyAFlagStartsTheDemoNeverAMissingKey() {
        assertThat(StandaloneOptions.parse(new String[0], Map.of()).demo()).isFalse();
        assertThat(StandaloneOptions.parse(new String[0], Map.of("OPENAI_API_KEY", ""))
                        .demo())
                .isFalse();
    }

    @Test
    void demoIfNoKeyStartsTheDemoOnlyWithoutAKey() {
        String[] args = {"--demo-if-no-key"};
        assertThat(StandaloneOptions.parse(args, Map.of()).demo()).isTrue();
        assertThat(StandaloneOptions.parse(args, Map.of("OPENAI_API_KEY", " ")).demo())
                .isTrue();
        assertThat(StandaloneOptions.parse(args, Map.of("OPENAI_API_KEY", "sk-real"))
                        .demo())
                .isFalse();
    }

    @Test
    void portComesFromTheArgumentOrTheEnvironment() {
        assertThat(StandaloneOptions.parse(new String[] {"--port=9000"}, Map.of("PORT", "9100"))
                        .port())
                .isEqualTo(9000);
        assertThat(StandaloneOptions.parse(new String[0], Map.of("PORT", "9100"))
                        .port())
                .isEqualTo(9100);
    }

    @Test
    void badArgumentsAreRefusedWithAMessage() {
        assertThatThrownBy(() -> StandaloneOptions.parse(new String[] {"--port=x"}, Map.of()))
                .hasMessageContaining("--port");
        assertThatThrownBy(() -> StandaloneOptions.parse(new String[0], Map.of("PORT", "70000")))
                .hasMessageContaining("PORT");
        assertThatThrownBy(() -> StandaloneOptions.parse(new String[] {"--verbose"}, Map.of()))
                .hasMessageContaining("--verbose");
    }
}
