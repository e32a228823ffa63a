package io.github.openaiproxy.spring.graphql;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.graphql.GraphQlOptions;
import io.github.openaiproxy.graphql.GraphQlRoute;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.github.openaiproxy.spring.OpenAiProxySettings;
import java.util.List;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.annotation.Bean;

/**
 * The GraphQL endpoint of module {@code openai-proxy-graphql}, when it is on the class path: a
 * {@link GraphQlRoute} bean, which the engine mounts like any {@code CustomRoute} bean, at
 * {@code openai.proxy.graphql.path} relative to the proxy ({@code /graphql}, or {@code /ai/graphql} when
 * the proxy is at {@code /ai}). {@code openai.proxy.graphql.enabled=false} leaves it out; an application's
 * own {@link GraphQlRoute} bean replaces it. With several {@link ProxyConfig} beans and none {@code @Primary} there is
 * none.
 */
@AutoConfiguration(after = OpenAiProxyAutoConfiguration.class)
// By name, so that the condition still reads when the module is missing (see the health auto-configuration).
@ConditionalOnClass(value = ProxyEngine.class, name = "io.github.openaiproxy.graphql.GraphQlRoute")
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@ConditionalOnBooleanProperty(name = "openai.proxy.graphql.enabled", matchIfMissing = true)
// Single: with several configurations (proxies the application builds itself) there is no telling whose route it is.
@ConditionalOnSingleCandidate(ProxyConfig.class)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyGraphQlAutoConfiguration {
    private static final String PREFIX = "openai.proxy.graphql.";

    /** The endpoint, with the engine's configuration (its image defaults are reported by generateImage). */
    @Bean
    @ConditionalOnMissingBean
    GraphQlRoute openAiProxyGraphQlRoute(ProxyConfig config, OpenAiProxyProperties properties) {
        GraphQlRoute route = GraphQlRoute.create(config, options(properties.getGraphql()));
        try {
            RouteTable.of(config.passThroughRoutes(), List.of(route));
        } catch (IllegalArgumentException e) {
            throw new InvalidConfigurationPropertyValueException(
                    PREFIX + "path", route.path(), "the proxy already serves this path: choose another one");
        }
        return route;
    }

    /**
     * The properties read through the module's catalog by core's binder, as the standalone server reads the
     * environment; a value the module refuses fails start-up naming its property.
     */
    static GraphQlOptions options(OpenAiProxyProperties.Graphql properties) {
        return OpenAiProxySettings.bind(
                () -> GraphQlOptions.from(OpenAiProxySettings.binder(properties, "graphql.", GraphQlOptions.SETTINGS)));
    }
}
