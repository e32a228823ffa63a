package io.github.openaiproxy.spring.health;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.StartupFailures;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

class OpenAiProxyHealthAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyHealthAutoConfiguration.class));

    @Test
    void providesTheHealthIndicator() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(OpenAiProxyHealthIndicator.class);
            // No key configured: down, without calling anything.
            assertThat(context.getBean(OpenAiProxyHealthIndicator.class)
                            .health()
                            .getStatus())
                    .isEqualTo(Status.DOWN);
        });
    }

    @Test
    void checksTheApplicationsEngine() {
        ProxyEngine mine =
                ProxyEngine.create(ProxyConfig.builder().allowClientKey(true).build());
        try {
            runner.withBean(ProxyEngine.class, () -> mine)
                    .run(context -> assertThat(context.getBean(OpenAiProxyHealthIndicator.class)
                                    .health()
                                    .getStatus())
                            .isEqualTo(Status.UNKNOWN));
        } finally {
            mine.close();
        }
    }

    @Test
    void backsOffWhenTheApplicationDefinesTheIndicator() {
        runner.withBean(
                        OpenAiProxyHealthIndicator.class,
                        () -> new OpenAiProxyHealthIndicator(
                                ProxyEngine.create(ProxyConfig.defaults()), Duration.ZERO, Duration.ofSeconds(1)))
                .run(context -> assertThat(context).hasSingleBean(OpenAiProxyHealthIndicator.class));
    }

    @Test
    void backsOffForAnIndicatorOfTheApplicationWithItsName() {
        HealthIndicator mine = () -> Health.up().build();
        runner.withBean("openAiProxyHealthIndicator", HealthIndicator.class, () -> mine)
                .run(context -> {
                    assertThat(context).hasNotFailed().doesNotHaveBean(OpenAiProxyHealthIndicator.class);
                    assertThat(context.getBean("openAiProxyHealthIndicator")).isSameAs(mine);
                });
    }

    @Test
    void noIndicatorForTwoEnginesOfTheApplication() {
        runner.withBean("first", ProxyEngine.class, () -> ProxyEngine.create(ProxyConfig.defaults()))
                .withBean("second", ProxyEngine.class, () -> ProxyEngine.create(ProxyConfig.defaults()))
                .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(OpenAiProxyHealthIndicator.class));
    }

    @ParameterizedTest
    @ValueSource(strings = {"0s", "-1s"})
    void aTimeoutThatLeavesNoTimeToAnswerFailsStartUpNamingTheProperty(String timeout) {
        // Accepted, it reported every upstream down: each check timed out before it began.
        runner.withPropertyValues("openai.proxy.health.timeout=" + timeout)
                .run(context -> assertThat(context)
                        .hasFailed()
                        .getFailure()
                        .satisfies(f ->
                                assertThat(StartupFailures.messages(f)).contains("'openai.proxy.health.timeout'")));
    }

    /** The stores' indicator only for a store on the network; a Redis that refuses connections is down at once. */
    @Test
    void theStoresIndicatorComesWithARedisLimitStore() {
        runner.run(context -> assertThat(context).doesNotHaveBean(OpenAiProxyStoresHealthIndicator.class));
        runner.withPropertyValues(
                        "openai.proxy.limits.store=redis", "openai.proxy.limits.redis-url=redis://127.0.0.1:1")
                .run(context -> {
                    assertThat(context).hasSingleBean(OpenAiProxyStoresHealthIndicator.class);
                    Health health = context.getBean(OpenAiProxyStoresHealthIndicator.class)
                            .health();
                    assertThat(health.getStatus()).isEqualTo(Status.DOWN);
                    assertThat(health.getDetails().get("limits").toString())
                            .contains("kind=redis")
                            .contains("error=not connected");
                });
    }

    @Test
    void canBeDisabledLikeEveryHealthIndicator() {
        runner.withPropertyValues("management.health.openai-proxy.enabled=false")
                .run(context -> assertThat(context)
                        .hasSingleBean(ProxyEngine.class)
                        .doesNotHaveBean(OpenAiProxyHealthIndicator.class));
    }

    @Test
    void backsOffWithoutSpringBootHealth() {
        runner.withClassLoader(new FilteredClassLoader(HealthIndicator.class))
                .run(context -> assertThat(context)
                        .hasSingleBean(ProxyEngine.class)
                        .doesNotHaveBean(OpenAiProxyHealthIndicator.class));
    }

    @Test
    void backsOffWhenTheProxyIsDisabled() {
        runner.withPropertyValues("openai.proxy.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(OpenAiProxyHealthIndicator.class));
    }
}
