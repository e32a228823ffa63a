package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.IdentitySource;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.ApplicationContext;
import org.springframework.context.ApplicationListener;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.event.ContextClosedEvent;

/**
 * The proxy's configuration and engine from the {@code openai.proxy.*} properties. On by default once the
 * starter is on the class path; {@code openai.proxy.enabled=false} turns every part of the starter off. The
 * web registration, metrics and health indicator are separate auto-configurations.
 */
@AutoConfiguration
@ConditionalOnClass(ProxyEngine.class)
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyAutoConfiguration {

    /**
     * Core's configuration: the properties through {@link OpenAiProxyPropertiesAdapter}, then every
     * {@link ProxyConfigCustomizer} in order. An invalid value fails start-up naming its property.
     */
    @Bean
    @ConditionalOnMissingBean
    ProxyConfig openAiProxyConfig(OpenAiProxyProperties properties, ObjectProvider<ProxyConfigCustomizer> customizers) {
        ProxyConfig.Builder builder = OpenAiProxyPropertiesAdapter.toBuilder(properties);
        customizers.orderedStream().forEach(c -> c.customize(builder));
        try {
            return builder.build();
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(
                    "openai.proxy: a ProxyConfigCustomizer made the configuration invalid: " + e.getMessage(), e);
        }
    }

    /**
     * The client that calls the upstream: the one {@code openai.proxy.upstream-client} names, or, when there are
     * {@link UpstreamClientCustomizer} beans, the JDK client with each of them applied in order. Closed with the
     * context, after the engine. An application's own {@link UpstreamClient} bean replaces it; with an
     * application's own {@link ProxyEngine} bean there is none.
     */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean({UpstreamClient.class, ProxyEngine.class})
    UpstreamClient openAiProxyUpstreamClient(ProxyConfig config, ObjectProvider<UpstreamClientCustomizer> customizers) {
        List<UpstreamClientCustomizer> all = customizers.orderedStream().toList();
        if (all.isEmpty()) {
            return UpstreamClient.create(config.upstream());
        }
        if (config.upstream().client() == UpstreamConfig.ClientKind.JETTY) {
            throw new IllegalStateException("openai.proxy.upstream-client is jetty, but UpstreamClientCustomizer beans"
                    + " customize the JDK client: set it to auto or jdk, or define an UpstreamClient bean");
        }
        try {
            return UpstreamClient.jdk(config.upstream(), builder -> all.forEach(c -> c.customize(builder)));
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(
                    "openai.proxy: an UpstreamClientCustomizer made the upstream client unfit: " + e.getMessage(), e);
        }
    }

    /**
     * The engine, with the {@link SessionStore} bean if there is one (see the sessions auto-configuration;
     * without one the engine keeps sessions in memory), the {@link ProxyKeyStore}, {@link PolicyStore} and
     * {@link AuditLog} beans if there are (see the access auto-configuration; without them, memory), every {@link ProxyObserver} bean (metrics, tracing)
     * and {@link CustomRoute} bean (modules such as GraphQL), the {@link UpstreamClient} bean, then every {@link ProxyEngineCustomizer} in
     * order. Closed with the context, which releases its upstream client and the threads it runs a
     * database session store's calls on. The session store, a bean of its own, is closed after it.
     */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    ProxyEngine openAiProxyEngine(
            ProxyConfig config,
            ObjectProvider<UpstreamClient> upstreamClient,
            ObjectProvider<SessionStore> sessionStore,
            ObjectProvider<ProxyKeyStore> proxyKeys,
            ObjectProvider<PolicyStore> policyStore,
            ObjectProvider<AuditLog> auditLog,
            ObjectProvider<IdentitySource> identitySources,
            ObjectProvider<ImageStore> imageStore,
            ObjectProvider<io.github.openaiproxy.core.limits.LimitStore> limitStore,
            ObjectProvider<io.github.openaiproxy.core.usage.UsageLedger> usageLedger,
            ObjectProvider<ProxyObserver> observers,
            ObjectProvider<CustomRoute> routes,
            ObjectProvider<ProxyEngineCustomizer> customizers) {
        ProxyEngine.Builder builder = ProxyEngine.builder(config);
        observers.orderedStream().forEach(builder::observer);
        upstreamClient.ifAvailable(builder::upstreamClient);
        sessionStore.ifAvailable(builder::sessions);
        proxyKeys.ifAvailable(builder::proxyKeys);
        policyStore.ifAvailable(builder::policyStore);
        auditLog.ifAvailable(builder::auditLog);
        identitySources.orderedStream().forEach(builder::identitySource);
        imageStore.ifAvailable(builder::imageStore);
        // Without a LimitStore bean the engine makes the store openai.proxy.limits.store names (memory).
        limitStore.ifAvailable(builder::limitStore);
        usageLedger.ifAvailable(builder::usageLedger);
        routes.orderedStream().forEach(builder::route);
        customizers.orderedStream().forEach(c -> c.customize(builder));
        try {
            return builder.build();
        } catch (IllegalArgumentException e) {
            // Two routes on one path: a CustomRoute bean (such as the GraphQL endpoint) against the proxy's own.
            throw new IllegalStateException(
                    "openai.proxy: " + e.getMessage() + " (check openai.proxy.graphql.path and the CustomRoute beans)",
                    e);
        }
    }

    /**
     * Closes the engine when the context closes: after the web server has stopped (its requests still under way are
     * then ended by the engine, see {@link ProxyEngine#close()}) and before Spring Boot cleans up its logging system,
     * which removes the java.util.logging bridge the engine's {@code System.Logger} writes through. Closed as a bean,
     * later, the engine logged into nothing: a usage ledger that could not write its queue said so to no one. The
     * ledger, the stores and the data source are beans destroyed after it; the engine's destroy method then finds it
     * closed. A context only stopped, to be started again ({@code stop()} then {@code start()}, as a CRaC checkpoint
     * and restore do), keeps its engine: a closed one cannot serve again.
     */
    @Bean
    static SmartLifecycle openAiProxyEngineLifecycle(ObjectProvider<ProxyEngine> engines, ApplicationContext context) {
        return new EngineLifecycle(engines, context);
    }

    /** The engine's lifecycle: closes the engines when their context closes, not when it merely stops. */
    private static final class EngineLifecycle implements SmartLifecycle, ApplicationListener<ContextClosedEvent> {
        private final ObjectProvider<ProxyEngine> engines;
        private final ApplicationContext context;
        private volatile boolean running;
        private volatile boolean closing;

        EngineLifecycle(ObjectProvider<ProxyEngine> engines, ApplicationContext context) {
            this.engines = engines;
            this.context = context;
        }

        /** Published as the context begins to close, before its lifecycle beans stop. */
        @Override
        public void onApplicationEvent(ContextClosedEvent event) {
            if (event.getApplicationContext() == context) {
                closing = true;
            }
        }

        @Override
        public void start() {
            running = true;
        }

        @Override
        public void stop() {
            running = false;
            if (closing) {
                engines.orderedStream().forEach(ProxyEngine::close);
            }
        }

        @Override
        public boolean isRunning() {
            return running;
        }

        /** Below the web server's phases (Boot stops it at DEFAULT_PHASE - 2048), above the logging system's. */
        @Override
        public int getPhase() {
            return SmartLifecycle.DEFAULT_PHASE - 4096;
        }
    }
}
