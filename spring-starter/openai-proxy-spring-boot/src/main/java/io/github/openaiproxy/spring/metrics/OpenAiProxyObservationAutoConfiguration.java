package io.github.openaiproxy.spring.metrics;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The proxy's GenAI telemetry through Micrometer Observation, when the application has an
 * {@link ObservationRegistry} (Spring Boot Actuator configures one, with metrics and, with a tracing bridge,
 * spans). The observer bean is attached to the auto-configured engine like every {@code ProxyObserver} bean.
 */
@AutoConfiguration(
        afterName = {
            // Spring Boot 4
            "org.springframework.boot.micrometer.observation.autoconfigure.ObservationAutoConfiguration",
            "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
            "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration",
            // Spring Boot 3
            "org.springframework.boot.actuate.autoconfigure.observation.ObservationAutoConfiguration",
            "org.springframework.boot.actuate.autoconfigure.metrics.MetricsAutoConfiguration",
            "org.springframework.boot.actuate.autoconfigure.metrics.CompositeMeterRegistryAutoConfiguration"
        })
@ConditionalOnClass({ProxyEngine.class, ObservationRegistry.class})
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@ConditionalOnBean(ObservationRegistry.class)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyObservationAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    ObservationProxyObserver openAiProxyObservations(
            ObservationRegistry registry, ObjectProvider<GenAiMeters> meters, OpenAiProxyProperties properties) {
        return new ObservationProxyObserver(
                registry, meters.getIfAvailable(), properties.getMetrics().getMaxModelTags());
    }

    /** The token and first-token meters, with a {@code MeterRegistry}. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterRegistry.class)
    @ConditionalOnBean(MeterRegistry.class)
    static class Meters {
        @Bean
        @ConditionalOnMissingBean
        GenAiMeters openAiProxyGenAiMeters(MeterRegistry registry) {
            return new GenAiMeters(registry);
        }
    }
}
