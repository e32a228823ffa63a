package io.github.openaiproxy.spring;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.spring.limits.OpenAiProxyLimitsAutoConfiguration;
import io.github.openaiproxy.testkit.TestRedis;
import java.net.URI;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

/**
 * The shared limit stores in Spring: {@code jdbc} counts in the application's DataSource and {@code redis} in the
 * Redis of its LettuceConnectionFactory, so two applications on the same database or Redis share one limit.
 * Real Redis ({@code .ci/run} starts it); H2 stands for the database here (PostgreSQL runs the store's contract).
 */
class OpenAiProxySharedLimitsAutoConfigurationTests {
    private static WireMockServer upstream;

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(
                    AutoConfigurations.of(OpenAiProxyLimitsAutoConfiguration.class, OpenAiProxyAutoConfiguration.class))
            .withPropertyValues("openai.proxy.policies.anonymous.requests-per-minute=3");

    @BeforeAll
    static void start() {
        upstream = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        upstream.start();
        upstream.stubFor(get("/v1/models")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"object\":\"list\",\"data\":[]}")));
    }

    @AfterAll
    static void stop() {
        upstream.stop();
    }

    private ApplicationContextRunner onUpstream() {
        upstream.resetRequests();
        return runner.withPropertyValues(
                "openai.proxy.base-url=" + upstream.baseUrl() + "/v1", "openai.proxy.api-key=sk-test-key");
    }

    /** Ten calls from one caller, alternating between the two applications; returns how many passed. */
    private static int passedOfTen(ConfigurableApplicationContext a, ConfigurableApplicationContext b)
            throws Exception {
        String caller = "10.7." + ThreadLocalRandom.current().nextInt(256) + "."
                + ThreadLocalRandom.current().nextInt(256);
        List<ProxyEngine> engines = List.of(a.getBean(ProxyEngine.class), b.getBean(ProxyEngine.class));
        int passed = 0;
        for (int i = 0; i < 10; i++) {
            ProxyResponse r = engines.get(i % 2)
                    .handle(ProxyRequest.builder("GET", "/v1/models")
                            .remoteAddress(caller)
                            .build())
                    .get(10, TimeUnit.SECONDS);
            r.discard();
            assertThat(r.status()).isIn(200, 429);
            passed += r.status() == 200 ? 1 : 0;
        }
        return passed;
    }

    @Test
    void jdbcCountsInTheApplicationsDataSourceSharedByTwoApplications() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:limits-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        ApplicationContextRunner jdbc = onUpstream()
                .withPropertyValues("openai.proxy.limits.store=jdbc")
                .withBean(DataSource.class, () -> h2);
        jdbc.run(a -> jdbc.run(b -> {
            assertThat(a.getBean(LimitStore.class).kind()).isEqualTo("jdbc");
            assertThat(passedOfTen(a, b)).isEqualTo(3);
        }));
        upstream.verify(3, getRequestedFor(urlEqualTo("/v1/models")));
    }

    @Test
    void jdbcWithoutADataSourceStopsStartUpNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.limits.store=jdbc")
                .run(context -> assertThat(context)
                        .hasFailed()
                        .getFailure()
                        .rootCause()
                        .hasMessageContaining("openai.proxy.limits.store")
                        .hasMessageContaining("DataSource"));
    }

    @Test
    void redisCountsInTheRedisOfTheApplicationsConnectionFactory() throws Exception {
        URI redis = URI.create(TestRedis.url());
        ApplicationContextRunner app = onUpstream()
                .withPropertyValues("openai.proxy.limits.store=redis")
                .withBean(LettuceConnectionFactory.class, () -> {
                    LettuceConnectionFactory f = new LettuceConnectionFactory(
                            new RedisStandaloneConfiguration(redis.getHost(), redis.getPort()));
                    f.afterPropertiesSet();
                    return f;
                });
        app.run(a -> app.run(b -> {
            assertThat(a.getBean(LimitStore.class).kind()).isEqualTo("redis");
            assertThat(passedOfTen(a, b)).isEqualTo(3);
        }));
        upstream.verify(3, getRequestedFor(urlEqualTo("/v1/models")));
    }

    @Test
    void redisAtTheConfiguredUrlWithoutAConnectionFactory() throws Exception {
        ApplicationContextRunner app = onUpstream()
                .withPropertyValues(
                        "openai.proxy.limits.store=redis", "openai.proxy.limits.redis-url=" + TestRedis.url());
        app.run(a -> app.run(b -> assertThat(passedOfTen(a, b)).isEqualTo(3)));
        upstream.verify(3, getRequestedFor(urlEqualTo("/v1/models")));
    }

    @Test
    void redisWithoutAConnectionFactoryOrUrlStopsStartUpNamingTheUrlProperty() {
        runner.withPropertyValues("openai.proxy.limits.store=redis")
                .run(context -> assertThat(context)
                        .hasFailed()
                        .getFailure()
                        .rootCause()
                        .hasMessageContaining("openai.proxy.limits.redis-url"));
    }
}
