package io.github.openaiproxy.spring.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.TestBodies;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

class OpenAiProxyMetricsAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyMetricsAutoConfiguration.class));

    @Test
    void recordsTheEnginesRequestsInTheMeterRegistry() {
        runner.withBean(MeterRegistry.class, SimpleMeterRegistry::new).run(context -> {
            assertThat(context).hasSingleBean(MicrometerProxyObserver.class);
            TestBodies.text(
                    context.getBean(ProxyEngine.class),
                    ProxyRequest.builder("GET", "/nowhere").build());
            assertThat(context.getBean(MeterRegistry.class)
                            .get(MicrometerProxyObserver.REQUESTS)
                            .tag("route", "unmatched")
                            .tag("status", "404")
                            .timer()
                            .count())
                    .isEqualTo(1);
        });
    }

    @Test
    void boundsModelTagsAsConfigured() {
        runner.withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .withPropertyValues("openai.proxy.metrics.max-model-tags=0")
                .run(context -> {
                    MicrometerProxyObserver observer = context.getBean(MicrometerProxyObserver.class);
                    ProxyObserver.Observation e = observer.begin("POST", "/");
                    e.upstreamResponded(200, Duration.ofMillis(1));
                    e.routed("/", Optional.of("gpt-4o"));
                    e.finished(200, false, Outcome.COMPLETED, Duration.ofMillis(1));
                    assertThat(context.getBean(MeterRegistry.class)
                                    .get(MicrometerProxyObserver.REQUESTS)
                                    .timer()
                                    .getId()
                                    .getTag("model"))
                            .isEqualTo("other");
                });
    }

    @Test
    void backsOffWithoutAMeterRegistry() {
        runner.run(context ->
                assertThat(context).hasSingleBean(ProxyEngine.class).doesNotHaveBean(MicrometerProxyObserver.class));
    }

    @Test
    void backsOffWithoutMicrometer() {
        runner.withClassLoader(new FilteredClassLoader(MeterRegistry.class))
                .run(context -> assertThat(context)
                        .hasSingleBean(ProxyEngine.class)
                        .doesNotHaveBean(MicrometerProxyObserver.class));
    }

    @Test
    void backsOffWhenTheApplicationDefinesTheObserver() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        MicrometerProxyObserver mine = new MicrometerProxyObserver(registry, 5);
        runner.withBean(MeterRegistry.class, () -> registry)
                .withBean(MicrometerProxyObserver.class, () -> mine)
                .run(context -> assertThat(context.getBean(MicrometerProxyObserver.class))
                        .isSameAs(mine));
    }

    @Test
    void canBeDisabled() {
        runner.withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .withPropertyValues("openai.proxy.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(MicrometerProxyObserver.class));
    }
}
