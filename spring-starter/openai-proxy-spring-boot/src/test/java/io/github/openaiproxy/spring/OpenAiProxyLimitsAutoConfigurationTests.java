package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.MemoryLimitStore;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.spring.limits.OpenAiProxyLimitsAutoConfiguration;
import io.github.openaiproxy.testkit.TestRedis;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.data.redis.connection.RedisClusterConfiguration;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

/**
 * The starter's limits: the application's {@link LimitStore} bean counts the policies' quotas; without one the
 * store {@code openai.proxy.limits.store} names is made, and a shared one without what it needs stops start-up
 * saying so.
 */
class OpenAiProxyLimitsAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OpenAiProxyAutoConfiguration.class))
            // Refused before any upstream call: nothing leaves the machine.
            .withPropertyValues("openai.proxy.policies.anonymous.requests-per-minute=0");

    /** A memory store that remembers who asked. */
    static final class RecordingStore implements LimitStore {
        final MemoryLimitStore memory = new MemoryLimitStore();
        final List<String> subjects = new CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<Admission> reserve(Reservation r) {
            subjects.add(r.subject());
            return memory.reserve(r);
        }

        @Override
        public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long now) {
            return memory.adjust(subject, adjustments, now);
        }

        @Override
        public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
            return memory.release(subject, counter, leaseId);
        }

        @Override
        public String kind() {
            return "recording";
        }
    }

    @Test
    void theApplicationsLimitStoreCountsTheQuotas() {
        RecordingStore store = new RecordingStore();
        runner.withBean(LimitStore.class, () -> store).run(context -> {
            ProxyResponse r = context.getBean(ProxyEngine.class)
                    .handle(ProxyRequest.builder("GET", "/v1/models")
                            .remoteAddress("10.0.0.9")
                            .build())
                    .get(10, TimeUnit.SECONDS);
            r.discard();
            assertThat(r.status()).isEqualTo(429);
            assertThat(store.subjects).containsExactly("anonymous|anonymous:10.0.0.9");
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://user:s3cret@127.0.0.1:%d", "redis://:s3cret#x@127.0.0.1:%d"})
    void aRedisUrlThatCannotServeStopsStartUpNamingItWithoutThePassword(String url) throws Exception {
        int closed = closedPort();
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(
                        OpenAiProxyLimitsAutoConfiguration.class, OpenAiProxyAutoConfiguration.class))
                .withPropertyValues(
                        "openai.proxy.limits.store=redis",
                        "openai.proxy.limits.redis-url=" + url.formatted(closed),
                        "openai.proxy.limits.store-timeout=1s")
                .run(context -> assertThat(context)
                        .hasFailed()
                        .getFailure()
                        .satisfies(f -> assertThat(StartupFailures.messages(f))
                                .contains("'openai.proxy.limits.redis-url'")
                                .doesNotContain("s3cret")));
    }

    /**
     * A Redis that cannot be reached at start, at {@code limits.redis-url} or behind the application's {@code
     * LettuceConnectionFactory}, does not stop the start (Spring Boot's own Redis support starts likewise): requests
     * get what the when-down settings say (the rate limit allows, so the request reaches the closed upstream, 502),
     * and once Redis listens the store connects by itself and counts (the limit of 0 refuses, 429).
     */
    @ParameterizedTest
    @ValueSource(strings = {"redis-url", "connection-factory"})
    void aRedisUnreachableAtStartStartsTheContextAndCountsOnceItListens(String via) throws Exception {
        TestRedis.Server redis = TestRedis.newServer(); // not started: nothing listens on its port yet
        try (redis) {
            ApplicationContextRunner starting = runner.withConfiguration(
                            AutoConfigurations.of(OpenAiProxyLimitsAutoConfiguration.class))
                    .withPropertyValues(
                            "openai.proxy.base-url=http://127.0.0.1:" + closedPort() + "/v1",
                            "openai.proxy.api-key=sk-test-0123456789abcdefghij",
                            "openai.proxy.limits.store=redis",
                            "openai.proxy.limits.store-timeout=1s");
            starting = via.equals("redis-url")
                    ? starting.withPropertyValues("openai.proxy.limits.redis-url=" + redis.url())
                    : starting.withBean(LettuceConnectionFactory.class, () -> {
                        LettuceConnectionFactory f = new LettuceConnectionFactory(
                                new RedisStandaloneConfiguration("127.0.0.1", redis.port()));
                        f.afterPropertiesSet();
                        return f;
                    });
            starting.run(context -> {
                assertThat(context).hasNotFailed();
                ProxyEngine engine = context.getBean(ProxyEngine.class);
                assertThat(status(engine))
                        .as("allowed while Redis is down, to the closed upstream")
                        .isEqualTo(502);

                redis.start();

                org.awaitility.Awaitility.await("the store connected by itself and counts")
                        .atMost(java.time.Duration.ofSeconds(30))
                        .pollInterval(java.time.Duration.ofMillis(200))
                        .until(() -> status(engine) == 429);
            });
        }
    }

    /**
     * The application's {@code LettuceConnectionFactory} on a Redis Cluster (or a standalone Redis) that refuses its
     * password (a wrong one, or none where one is required): start-up stops naming {@code openai.proxy.limits.store}
     * with what Redis said, not sending the reader to {@code limits.redis-url} (which the application did not set), and
     * never prints the password. With the right one the same factory counts (the limit of 0 refuses).
     */
    @ParameterizedTest
    @CsvSource({"cluster, wrong-pass-123", "cluster, ''", "standalone, wrong-pass-123"})
    void aRedisOfTheApplicationThatRefusesThePasswordStopsStartUp(String kind, String password) throws Exception {
        boolean cluster = kind.equals("cluster");
        TestRedis.Server redis = (cluster ? TestRedis.newClusterNode() : TestRedis.newServer()).start();
        try (redis) {
            io.lettuce.core.RedisClient admin = io.lettuce.core.RedisClient.create(redis.url());
            try {
                admin.connect().sync().configSet("requirepass", "right-pass-123");
            } finally {
                admin.shutdown(java.time.Duration.ZERO, java.time.Duration.ofSeconds(2));
            }
            ApplicationContextRunner app = runner.withConfiguration(
                            AutoConfigurations.of(OpenAiProxyLimitsAutoConfiguration.class))
                    .withPropertyValues(
                            "openai.proxy.base-url=http://127.0.0.1:" + closedPort() + "/v1",
                            "openai.proxy.api-key=sk-test-0123456789abcdefghij",
                            "openai.proxy.limits.store=redis",
                            "openai.proxy.limits.store-timeout=2s");

            app.withBean(LettuceConnectionFactory.class, () -> factory(cluster, redis.port(), password))
                    .run(context -> assertThat(context)
                            .hasFailed()
                            .getFailure()
                            .satisfies(f -> assertThat(StartupFailures.messages(f))
                                    .contains("'openai.proxy.limits.store'")
                                    .contains("refused the connection")
                                    // What Redis said, and no word of a URL this application never set.
                                    .containsAnyOf("WRONGPASS", "NOAUTH")
                                    .doesNotContain("limits.redis-url")
                                    .doesNotContain("pass-123")));

            app.withBean(LettuceConnectionFactory.class, () -> factory(cluster, redis.port(), "right-pass-123"))
                    .run(context -> {
                        assertThat(context).hasNotFailed();
                        assertThat(context.getBean(LimitStore.class).kind()).isEqualTo("redis");
                        assertThat(status(context.getBean(ProxyEngine.class))).isEqualTo(429);
                    });
        }
    }

    /** The application's factory on the Redis at {@code port}, with {@code password} unless it is empty. */
    private static LettuceConnectionFactory factory(boolean cluster, int port, String password) {
        LettuceConnectionFactory f;
        if (cluster) {
            RedisClusterConfiguration c = new RedisClusterConfiguration(List.of("127.0.0.1:" + port));
            if (!password.isEmpty()) {
                c.setPassword(password);
            }
            f = new LettuceConnectionFactory(c);
        } else {
            RedisStandaloneConfiguration c = new RedisStandaloneConfiguration("127.0.0.1", port);
            if (!password.isEmpty()) {
                c.setPassword(password);
            }
            f = new LettuceConnectionFactory(c);
        }
        f.afterPropertiesSet();
        return f;
    }

    private static int status(ProxyEngine engine) throws Exception {
        ProxyResponse r = engine.handle(ProxyRequest.builder("GET", "/v1/models")
                        .remoteAddress("10.0.0.9")
                        .build())
                .get(10, TimeUnit.SECONDS);
        r.discard();
        return r.status();
    }

    /** A loopback port nothing listens on. */
    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void aSharedStoreWithoutABeanOrWhatItNeedsStopsStartUp() {
        runner.withPropertyValues("openai.proxy.limits.store=redis")
                .run(context -> assertThat(context)
                        .hasFailed()
                        .getFailure()
                        .rootCause()
                        .hasMessageContaining("limits.store=redis needs limits.redis-url"));
    }
}
