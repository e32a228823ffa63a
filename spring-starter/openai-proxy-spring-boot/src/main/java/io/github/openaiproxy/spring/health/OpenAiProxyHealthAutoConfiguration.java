package io.github.openaiproxy.spring.health;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.annotation.Bean;

/**
 * The proxy's health indicator ({@code openAiProxy} in the health endpoint), with Spring Boot 4's health
 * support (Actuator brings it; Spring Boot 3's health API is in other packages, so there is no indicator on
 * Spring Boot 3). {@code management.health.openai-proxy.enabled=false} turns it off.
 */
@AutoConfiguration(after = OpenAiProxyAutoConfiguration.class)
// By name: on Spring Boot 3 the class is missing, and a missing class literal would make Spring ignore the
// whole condition when this class is read by reflection (as test runners do).
@ConditionalOnClass(value = ProxyEngine.class, name = "org.springframework.boot.health.contributor.HealthIndicator")
@ConditionalOnBean(ProxyEngine.class)
@ConditionalOnEnabledHealthIndicator("openai-proxy")
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyHealthAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    OpenAiProxyHealthIndicator openAiProxyHealthIndicator(ProxyEngine engine, OpenAiProxyProperties properties) {
        OpenAiProxyProperties.Health health = properties.getHealth();
        return new OpenAiProxyHealthIndicator(engine, health.getCacheTimeToLive(), health.getTimeout());
    }
}
