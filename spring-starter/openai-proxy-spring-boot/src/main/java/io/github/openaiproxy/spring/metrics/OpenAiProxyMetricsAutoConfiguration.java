package io.github.openaiproxy.spring.metrics;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;

/**
 * The proxy's Micrometer metrics, when the application has a {@link MeterRegistry} (Spring Boot Actuator
 * configures one). The observer bean is attached to the auto-configured engine; an application that builds
 * its own engine passes it to {@code ProxyEngine.builder(config).observer(...)} itself.
 */
@AutoConfiguration(
        afterName = {
            // Spring Boot 4
            "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
            "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration",
            // Spring Boot 3
            "org.springframework.boot.actuate.autoconfigure.metrics.MetricsAutoConfiguration",
            "org.springframework.boot.actuate.autoconfigure.metrics.CompositeMeterRegistryAutoConfiguration"
        })
@ConditionalOnClass({ProxyEngine.class, MeterRegistry.class})
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@ConditionalOnBean(MeterRegistry.class)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyMetricsAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    MicrometerProxyObserver openAiProxyMetrics(MeterRegistry registry, OpenAiProxyProperties properties) {
        return new MicrometerProxyObserver(registry, properties.getMetrics().getMaxModelTags());
    }

    /**
     * {@value #LEDGER_DROPPED} (function counter): usage records the ledger dropped because its queue was full
     * ({@code openai.proxy.ledger.queue-size}); present with a batching ledger ({@code ledger.store=jdbc}).
     */
    @Bean
    @ConditionalOnMissingBean(name = "openAiProxyLedgerMetrics")
    MeterBinder openAiProxyLedgerMetrics(ObjectProvider<UsageLedger> ledgers) {
        return registry -> {
            if (ledgers.getIfUnique() instanceof BatchingUsageLedger ledger) {
                FunctionCounter.builder(LEDGER_DROPPED, ledger, BatchingUsageLedger::dropped)
                        .description("Usage records dropped because the ledger's queue was full")
                        .register(registry);
            }
        };
    }

    /** The ledger's dropped records. */
    public static final String LEDGER_DROPPED = "openai.proxy.ledger.dropped";
}
