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

    /**
     * With images stored (here in S3), the image store's client and the image fetcher were made before the limit
     * store or the ledger refused the build, and stayed open: the fetcher's JDK client kept a selector thread a try.
     */
    @ParameterizedTest
    @ValueSource(strings = {"limits.store", "ledger.store"})
    void anEngineWithImagesRefusedForItsStoresLeavesNoThreadBehind(String setting) {
        ProxyConfig config = ProxySettings.from(Map.of(
                        setting,
                        "jdbc",
                        "images.store",
                        "s3",
                        "images.s3.bucket",
                        "proxy-images",
                        "images.s3.region",
                        "us-east-1",
                        "images.s3.endpoint",
                        "http://127.0.0.1:9"))
                .applyTo(ProxyConfig.builder().apiKey(KEY))
                .build();
        List<Thread> before = engineThreads();
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> ProxyEngine.create(config))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining(setting + "=jdbc");
        }
        // At once: a JDK client that was made and dropped keeps its thread until a garbage collection, which the
        // wait below may or may not bring; the refused build must not make one.
        assertThat(engineThreads())
                .filteredOn(t -> !before.contains(t))
                .extracting(Thread::getName)
                .noneMatch(name -> name.startsWith("HttpClient-"));
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

    /**
     * The threads the engine and its parts name (all of them begin with {@code openai-proxy-}), and the JDK HTTP
     * clients' selector threads (the image fetcher's, the JDK upstream client's).
     */
    private static List<Thread> engineThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive()
                        && (t.getName().startsWith("openai-proxy-")
                                || t.getName().startsWith("HttpClient-")))
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
