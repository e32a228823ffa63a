package io.github.openaiproxy.spring.ledger;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.core.usage.ledger.JdbcUsageStore;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.github.openaiproxy.spring.StoreDataSource;
import java.time.Clock;
import javax.sql.DataSource;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.sql.init.dependency.DependsOnDatabaseInitialization;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The usage ledger ({@code openai.proxy.ledger.store}): {@code memory}, or {@code jdbc} on the application's
 * {@link DataSource} (its single or primary one; tables {@code openai_proxy_usage} and {@code
 * openai_proxy_usage_daily}, created or migrated at start-up) behind a batching writer with a thread of its own. The
 * engine's auto-configuration hands the bean to {@link ProxyEngine.Builder#usageLedger}, and the engine closes it
 * (writing what is queued) before the DataSource closes. An application's own {@link UsageLedger} bean replaces it.
 * With {@code none}, the default, there is no ledger.
 */
@AutoConfiguration(before = OpenAiProxyAutoConfiguration.class)
@ConditionalOnClass(ProxyEngine.class)
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyLedgerAutoConfiguration {
    static final String PROPERTY = "openai.proxy.ledger.store";
    private static final Log LOG = LogFactory.getLog(OpenAiProxyLedgerAutoConfiguration.class);

    /** {@code memory}: bounded, lost on restart. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(name = PROPERTY, havingValue = "memory")
    static class Memory {
        @Bean
        @ConditionalOnMissingBean
        UsageLedger openAiProxyUsageLedger(ProxyConfig config, ObjectProvider<Clock> clocks) {
            return InMemoryUsageLedger.of(config.ledger(), clocks.getIfUnique(Clock::systemUTC));
        }
    }

    /** {@code jdbc}: the application's DataSource. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(name = PROPERTY, havingValue = "jdbc")
    static class Jdbc {
        @Bean
        @ConditionalOnMissingBean
        @DependsOnDatabaseInitialization
        UsageLedger openAiProxyUsageLedger(
                ProxyConfig config, ObjectProvider<DataSource> dataSources, ObjectProvider<Clock> clocks) {
            DataSource dataSource = StoreDataSource.required(PROPERTY, dataSources, "a UsageLedger bean");
            Clock clock = clocks.getIfUnique(Clock::systemUTC);
            JdbcUsageStore store;
            try {
                store = JdbcUsageStore.create(dataSource, JdbcUsageStore.DEFAULT_PREFIX, clock);
            } catch (IllegalStateException e) {
                throw new IllegalStateException(
                        "openai.proxy.ledger: could not create or migrate the usage tables in the application's"
                                + " DataSource (" + e.getMessage() + "). Fix the database or its rights, or set "
                                + PROPERTY + "=memory.",
                        e);
            }
            LOG.info("openai-proxy usage ledger kept in the application's DataSource (tables openai_proxy_usage*)");
            return BatchingUsageLedger.start(store, config.ledger(), clock);
        }
    }
}
