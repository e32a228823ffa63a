package io.github.openaiproxy.spring.session;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.session.SessionStoreException;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.github.openaiproxy.spring.OpenAiProxySettings;
import io.github.openaiproxy.spring.StoreDataSource;
import java.time.Clock;
import java.time.Duration;
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
 * Where the engine keeps chat sessions ({@code openai.proxy.sessions.store}): in the application's
 * {@link DataSource} when it has one ({@code auto}, the default, or {@code jdbc}), so history survives a
 * restart and is shared by every instance on the same database; otherwise in core's bounded in-memory
 * store. The JDBC store creates or migrates its tables ({@code openai_proxy_*}) when it is built, at
 * start-up.
 *
 * <p>The engine runs the JDBC store's calls on a small thread pool of its own, never on the threads that
 * relay requests, and shuts it down when it is closed with the context. The application's {@link Clock}
 * bean, when it has exactly one, is the store's clock (creation times and retention). An application's own
 * {@link SessionStore} bean replaces this one; {@code openai.proxy.sessions.enabled=false} turns the
 * session routes off and creates no store (nothing is written to the database).
 */
@AutoConfiguration(before = OpenAiProxyAutoConfiguration.class)
@ConditionalOnClass(ProxyEngine.class)
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@ConditionalOnBooleanProperty(name = "openai.proxy.sessions.enabled", matchIfMissing = true)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxySessionsAutoConfiguration {
    private static final Log LOG = LogFactory.getLog(OpenAiProxySessionsAutoConfiguration.class);

    /**
     * The session store. Built after the application's own database initialization (schema scripts, Flyway,
     * Liquibase), so that the tables it creates cannot get in their way. Closed with the context (the JDBC
     * store leaves the DataSource open: it is the application's).
     */
    @Bean
    @ConditionalOnMissingBean
    @DependsOnDatabaseInitialization
    SessionStore openAiProxySessionStore(
            OpenAiProxyProperties properties, ObjectProvider<DataSource> dataSources, ObjectProvider<Clock> clocks) {
        // The application's Clock bean, if it has one, drives retention (tests move it instead of waiting).
        Clock clock = clocks.getIfUnique(Clock::systemUTC);
        // Read by core's binder, as the standalone server reads OPENAI_PROXY_SESSIONS_STORE and _RETENTION.
        ProxySettings settings = OpenAiProxySettings.proxySettings(properties);
        Duration retention = OpenAiProxySettings.bind(settings::sessionRetention);
        StoreDataSource.Choice choice = StoreDataSource.choose(settings, dataSources, "a SessionStore bean");
        if (choice.inMemory()) {
            return inMemory("in memory (" + choice.inMemoryBecause() + "; lost on restart)", retention, clock);
        }
        try {
            SessionStore store = JdbcSessionStore.builder(choice.dataSource())
                    .retention(retention)
                    .clock(clock)
                    .build();
            LOG.info("openai-proxy chat sessions stored in the application's DataSource (tables openai_proxy_*), "
                    + (retention == null ? "kept until deleted" : "kept " + retention + " after the last message"));
            return store;
        } catch (SessionStoreException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException(
                    "openai.proxy.sessions: could not create or migrate the session tables in the application's"
                            + " DataSource (" + cause.getMessage() + "). Fix the database or its rights, or set "
                            + StoreDataSource.PROPERTY + "=memory to keep sessions in memory.",
                    e);
        }
    }

    private static SessionStore inMemory(String where, Duration retention, Clock clock) {
        LOG.info("openai-proxy chat sessions stored " + where);
        return SessionStore.inMemory(retention, clock);
    }
}
