package io.github.openaiproxy.spring.health;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import java.time.Duration;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.AnyNestedCondition;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;

/**
 * The proxy's health indicators ({@code openAiProxy} in the health endpoint, and {@code openAiProxyStores} with a
 * Redis limit store or an S3 image store), with Spring Boot 4's health
 * support (Actuator brings it; Spring Boot 3's health API is in other packages, so there is no indicator on
 * Spring Boot 3). {@code management.health.openai-proxy.enabled=false} turns it off. An application's own bean of
 * this type, or any bean named {@value #BEAN_NAME}, replaces it; with several {@link ProxyEngine} beans and none
 * {@code @Primary} there is none.
 */
@AutoConfiguration(after = OpenAiProxyAutoConfiguration.class)
// By name: on Spring Boot 3 the class is missing, and a missing class literal would make Spring ignore the
// whole condition when this class is read by reflection (as test runners do).
@ConditionalOnClass(value = ProxyEngine.class, name = "org.springframework.boot.health.contributor.HealthIndicator")
@ConditionalOnSingleCandidate(ProxyEngine.class)
@ConditionalOnEnabledHealthIndicator("openai-proxy")
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyHealthAutoConfiguration {
    /** The indicator's bean name; Actuator shows it as {@code openAiProxy}. */
    public static final String BEAN_NAME = "openAiProxyHealthIndicator";

    // By name too: an application's HealthIndicator of that name would otherwise clash with this one at start-up.
    @Bean(name = BEAN_NAME)
    @ConditionalOnMissingBean(value = OpenAiProxyHealthIndicator.class, name = BEAN_NAME)
    OpenAiProxyHealthIndicator openAiProxyHealthIndicator(ProxyEngine engine, OpenAiProxyProperties properties) {
        OpenAiProxyProperties.Health health = properties.getHealth();
        return new OpenAiProxyHealthIndicator(engine, health.getCacheTimeToLive(), positiveTimeout(health));
    }

    /** The stores' indicator's bean name; Actuator shows it as {@code openAiProxyStores}. */
    public static final String STORES_BEAN_NAME = "openAiProxyStoresHealthIndicator";

    /** With a Redis limit store or an S3 image store: their health, with the same cache and timeout. */
    @Bean(name = STORES_BEAN_NAME)
    @Conditional(NetworkStores.class)
    @ConditionalOnMissingBean(value = OpenAiProxyStoresHealthIndicator.class, name = STORES_BEAN_NAME)
    OpenAiProxyStoresHealthIndicator openAiProxyStoresHealthIndicator(
            ProxyEngine engine, OpenAiProxyProperties properties) {
        OpenAiProxyProperties.Health health = properties.getHealth();
        return new OpenAiProxyStoresHealthIndicator(engine, health.getCacheTimeToLive(), positiveTimeout(health));
    }

    /** {@code health.timeout}, refused unless positive: with no time to answer every check would report DOWN. */
    private static Duration positiveTimeout(OpenAiProxyProperties.Health health) {
        Duration timeout = health.getTimeout();
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new InvalidConfigurationPropertyValueException(
                    "openai.proxy.health.timeout", timeout, "must be positive, such as 5s");
        }
        return timeout;
    }

    /** {@code limits.store=redis} or {@code images.store=s3}: a store on the network of the proxy's own. */
    static final class NetworkStores extends AnyNestedCondition {
        NetworkStores() {
            super(ConfigurationPhase.REGISTER_BEAN);
        }

        @ConditionalOnProperty(name = "openai.proxy.limits.store", havingValue = "redis")
        static final class RedisLimits {}

        @ConditionalOnProperty(name = "openai.proxy.images.store", havingValue = "s3")
        static final class S3Images {}
    }
}
