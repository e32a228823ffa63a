package io.github.openaiproxy.spring.health;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import java.time.Duration;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.annotation.Bean;

/**
 * The proxy's health indicator ({@code openAiProxy} in the health endpoint), with Spring Boot 4's health
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
        Duration timeout = health.getTimeout();
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            // No time to answer: every check would time out and report a healthy upstream down.
            throw new InvalidConfigurationPropertyValueException(
                    "openai.proxy.health.timeout", timeout, "must be positive, such as 5s");
        }
        return new OpenAiProxyHealthIndicator(engine, health.getCacheTimeToLive(), timeout);
    }
}
