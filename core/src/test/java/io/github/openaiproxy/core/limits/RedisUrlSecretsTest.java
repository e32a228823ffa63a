package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code limits.redis-url} may carry the Redis password; a URL that cannot be used fails start-up with an exception
 * whose messages (every cause's) never repeat the password, since start-up failures are printed and logged.
 */
class RedisUrlSecretsTest {
    private static final String PASSWORD = "s3cret-redis-pass";

    @Test
    void aUrlThatCannotBeUsedNeverRepeatsItsPassword() {
        List<String> urls = List.of(
                "redis://:" + PASSWORD + "@127.0.0.1:notaport",
                "redis://:" + PASSWORD + " x@127.0.0.1:6379",
                "redis://user:" + PASSWORD + "@[::1:6379/0",
                "redis://:" + PASSWORD + "#x@127.0.0.1:6379/0",
                "redis-sentinel://:" + PASSWORD + "@127.0.0.1:1/0");
        for (String url : urls) {
            Throwable thrown = catchThrowable(
                    () -> RedisLimitStore.connect(url, Duration.ofMillis(500)).close());
            assertThat(thrown).as(url).isNotNull();
            List<String> said = new ArrayList<>();
            for (Throwable t = thrown; t != null; t = t.getCause()) {
                said.add(t.toString());
                for (Throwable s : t.getSuppressed()) {
                    said.add(s.toString());
                }
            }
            assertThat(said).as(url).noneSatisfy(m -> assertThat(m).contains(PASSWORD));
        }
    }

    /**
     * A Redis that cannot be reached at start does not stop it: the store starts without it, and the warning it
     * logs names the URL with the password masked.
     */
    @Test
    void anUnreachableRedisStartsTheStoreWithAWarningWithoutThePassword() {
        List<String> urls = List.of(
                "redis://:" + PASSWORD + "@127.0.0.1:1/0",
                "redis://:" + PASSWORD + "@127.0.0.1:1,redis://:" + PASSWORD + "@127.0.0.1:2");
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(RedisLimitStore.class.getName());
        List<java.util.logging.LogRecord> records = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        logger.addHandler(handler);
        try {
            for (String url : urls) {
                records.clear();
                RedisLimitStore.connect(url, Duration.ofMillis(500)).close();
                assertThat(records)
                        .as(url)
                        .anySatisfy(r -> assertThat(new java.util.logging.SimpleFormatter().formatMessage(r))
                                .contains("cannot be reached")
                                .contains("redis://***@127.0.0.1:1"));
                assertThat(records)
                        .as(url)
                        .noneSatisfy(r -> assertThat(new java.util.logging.SimpleFormatter().formatMessage(r))
                                .contains(PASSWORD));
            }
        } finally {
            logger.removeHandler(handler);
        }
    }

    /** The same through the engine's settings, as the standalone server and the servlet adapter start it. */
    @Test
    void anEngineWhoseRedisUrlCannotBeUsedFailsWithoutRepeatingThePassword() {
        java.util.Map<String, String> settings = new java.util.HashMap<>();
        settings.put("base-url", "http://127.0.0.1:1/v1");
        settings.put("api-key", "sk-test-0123456789abcdefghij");
        settings.put("limits.store", "redis");
        settings.put("limits.redis-url", "redis://:" + PASSWORD + "#x@127.0.0.1:6379/0");
        Throwable thrown = catchThrowable(() -> io.github.openaiproxy.core.ProxyEngine.builder(
                        io.github.openaiproxy.core.config.ProxySettings.from(settings)
                                .toConfig())
                .build()
                .close());
        assertThat(thrown).isNotNull();
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            assertThat(t.toString()).doesNotContain(PASSWORD);
        }
    }
}
