package io.github.openaiproxy.spring.access;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessStoreException;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.github.openaiproxy.spring.OpenAiProxySettings;
import io.github.openaiproxy.spring.StoreDataSource;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.sql.init.dependency.DependsOnDatabaseInitialization;
import org.springframework.context.annotation.Bean;

/**
 * Where the engine keeps proxy keys, the policies managed through the admin API, and the admin API's audit
 * log: where it keeps chat sessions ({@code openai.proxy.sessions.store}). With {@code auto} (the default) or
 * {@code jdbc}, in the application's {@link DataSource} when it has one (tables {@code openai_proxy_*},
 * created or migrated at start-up), so every instance on the same database sees the same keys and a
 * revocation; otherwise, or with {@code memory}, in memory. Keys declared in configuration
 * ({@code openai.proxy.access.keys}) are read from the configuration whatever the store.
 *
 * <p>An application's own {@link ProxyKeyStore}, {@link PolicyStore} or {@link AuditLog} bean replaces the
 * one made here; the engine's auto-configuration hands whichever there is to
 * {@link ProxyEngine.Builder#proxyKeys}, {@link ProxyEngine.Builder#policyStore} and
 * {@link ProxyEngine.Builder#auditLog}. The engine makes the stores' blocking calls on threads of its own.
 */
@AutoConfiguration(before = OpenAiProxyAutoConfiguration.class)
@ConditionalOnClass(ProxyEngine.class)
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyAccessAutoConfiguration {
    private static final Log LOG = LogFactory.getLog(OpenAiProxyAccessAutoConfiguration.class);

    /** The proxy keys: in the application's database, or in memory. */
    @Bean
    @ConditionalOnMissingBean
    @DependsOnDatabaseInitialization
    ProxyKeyStore openAiProxyKeyStore(OpenAiProxyProperties properties, ObjectProvider<DataSource> dataSources) {
        return store("proxy keys", properties, dataSources, JdbcProxyKeyStore::create, InMemoryProxyKeyStore::new);
    }

    /** The policies managed through the admin API (the configured ones stay in the configuration). */
    @Bean
    @ConditionalOnMissingBean
    @DependsOnDatabaseInitialization
    PolicyStore openAiProxyPolicyStore(OpenAiProxyProperties properties, ObjectProvider<DataSource> dataSources) {
        return store("managed policies", properties, dataSources, JdbcPolicyStore::create, InMemoryPolicyStore::new);
    }

    /** What the admin API changed, by whom and when. */
    @Bean
    @ConditionalOnMissingBean
    @DependsOnDatabaseInitialization
    AuditLog openAiProxyAuditLog(OpenAiProxyProperties properties, ObjectProvider<DataSource> dataSources) {
        return store("the admin audit log", properties, dataSources, JdbcAuditLog::create, AuditLog::inMemory);
    }

    private static <T> T store(
            String what,
            OpenAiProxyProperties properties,
            ObjectProvider<DataSource> dataSources,
            Function<DataSource, T> jdbc,
            Supplier<T> memory) {
        StoreDataSource.Choice choice = StoreDataSource.choose(
                OpenAiProxySettings.proxySettings(properties),
                dataSources,
                "ProxyKeyStore, PolicyStore and AuditLog beans");
        if (choice.inMemory()) {
            LOG.debug("openai-proxy " + what + " kept in memory (" + choice.inMemoryBecause() + ")");
            return memory.get();
        }
        try {
            T store = jdbc.apply(choice.dataSource());
            LOG.debug("openai-proxy " + what + " kept in the application's DataSource (tables openai_proxy_*)");
            return store;
        } catch (AccessStoreException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException(
                    "openai.proxy: could not create or migrate the tables for " + what + " in the application's"
                            + " DataSource (" + cause.getMessage() + "). Fix the database or its rights, or set "
                            + StoreDataSource.PROPERTY + "=memory.",
                    e);
        }
    }
}
