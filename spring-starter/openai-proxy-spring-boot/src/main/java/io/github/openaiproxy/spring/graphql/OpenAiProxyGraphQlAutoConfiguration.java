package io.github.openaiproxy.spring.graphql;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.graphql.GraphQlOptions;
import io.github.openaiproxy.graphql.GraphQlRoute;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import java.util.List;
import java.util.function.BiFunction;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.annotation.Bean;

/**
 * The GraphQL endpoint of module {@code openai-proxy-graphql}, when it is on the class path: a
 * {@link GraphQlRoute} bean, which the engine mounts like any {@code CustomRoute} bean, at
 * {@code openai.proxy.graphql.path} relative to the proxy ({@code /graphql}, or {@code /ai/graphql} when
 * the proxy is at {@code /ai}). {@code openai.proxy.graphql.enabled=false} leaves it out; an application's
 * own {@link GraphQlRoute} bean replaces it.
 */
@AutoConfiguration(after = OpenAiProxyAutoConfiguration.class)
// By name, so that the condition still reads when the module is missing (see the health auto-configuration).
@ConditionalOnClass(value = ProxyEngine.class, name = "io.github.openaiproxy.graphql.GraphQlRoute")
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@ConditionalOnBooleanProperty(name = "openai.proxy.graphql.enabled", matchIfMissing = true)
@ConditionalOnBean(ProxyConfig.class)
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
     * Maps the properties onto core's options one by one, so that a value the module refuses fails start-up
     * naming its property.
     */
    static GraphQlOptions options(OpenAiProxyProperties.Graphql p) {
        GraphQlOptions o = GraphQlOptions.DEFAULTS;
        o = with(
                o,
                "path",
                path(p.getPath()),
                (c, v) -> new GraphQlOptions(
                        true,
                        v,
                        c.maxDepth(),
                        c.maxComplexity(),
                        c.maxDocumentSize(),
                        c.introspection(),
                        c.maxUpstreamCalls(),
                        c.maxResponseSize()));
        o = with(o, "max-depth", p.getMaxDepth(), GraphQlOptions::withMaxDepth);
        o = with(o, "max-complexity", p.getMaxComplexity(), GraphQlOptions::withMaxComplexity);
        o = with(o, "max-document-size", p.getMaxDocumentSize(), GraphQlOptions::withMaxDocumentSize);
        o = with(o, "max-upstream-calls", p.getMaxUpstreamCalls(), GraphQlOptions::withMaxUpstreamCalls);
        if (p.getMaxResponseSize() != null) { // unset: the proxy's max-body-size
            o = with(o, "max-response-size", p.getMaxResponseSize().toBytes(), GraphQlOptions::withMaxResponseSize);
        }
        return o.withIntrospection(p.isIntrospection());
    }

    /** As for {@code openai.proxy.path}: {@code /graphql/} is {@code /graphql}. */
    private static String path(String path) {
        if (path == null) {
            return null;
        }
        String p = path.strip();
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p;
    }

    private static <V> GraphQlOptions with(
            GraphQlOptions current, String key, V value, BiFunction<GraphQlOptions, V, GraphQlOptions> apply) {
        if (value == null) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + key, null, "must be set");
        }
        if (value instanceof Number n && n.longValue() < 1) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + key, value, "must be at least 1");
        }
        try {
            return apply.apply(current, value);
        } catch (IllegalArgumentException e) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + key, value, e.getMessage());
        }
    }
}
