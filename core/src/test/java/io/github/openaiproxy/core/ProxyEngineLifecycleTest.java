package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.config.ProxySettings;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An application that builds and closes engines over and over (tests, hot redeploys), or whose engine is refused
 * at start-up, is left with none of the engine's threads.
 */
class ProxyEngineLifecycleTest {
    private static final String KEY = "sk-proj-lifecycle0123456789abcdefghijklmn";

    @ParameterizedTest
    @ValueSource(strings = {"jdbc", "redis"})
    void anEngineRefusedForItsLimitStoreLeavesNoThreadBehind(String store) {
        ProxyConfig config = ProxySettings.from(Map.of("limits.store", store))
                .applyTo(ProxyConfig.builder().apiKey(KEY))
                .build();
        List<Thread> before = engineThreads();
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> ProxyEngine.create(config))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("limits.store=" + store);
        }
        assertNoNewThreads(before);
    }

    @Test
    void enginesBuiltAndClosedOverAndOverLeaveNoThreadBehind() {
        ProxyConfig config = ProxyConfig.builder().apiKey(KEY).build();
        ProxyEngine.create(config).close(); // once first: classes loaded, anything made once per JVM made
        List<Thread> before = engineThreads();
        for (int i = 0; i < 5; i++) {
            ProxyEngine.create(config).close();
        }
        assertNoNewThreads(before);
    }

    /** The threads the engine and its parts name (all of them begin with {@code openai-proxy-}). */
    private static List<Thread> engineThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("openai-proxy-"))
                .toList();
    }

    private static void assertNoNewThreads(List<Thread> before) {
        long deadline = System.nanoTime() + 5_000_000_000L; // a stopped pool's threads end soon after, not at once
        List<Thread> added;
        do {
            added = engineThreads().stream().filter(t -> !before.contains(t)).toList();
            if (added.isEmpty()) {
                return;
            }
            Thread.onSpinWait();
        } while (System.nanoTime() < deadline);
        assertThat(added).extracting(Thread::getName).isEmpty();
    }
}
