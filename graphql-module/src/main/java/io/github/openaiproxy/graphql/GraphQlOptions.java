package io.github.openaiproxy.graphql;

import io.github.openaiproxy.core.config.ProxySettings;
import java.util.function.Function;

/**
 * How the GraphQL endpoint is served. The flat keys (for init parameters, {@code OPENAI_PROXY_GRAPHQL_*}
 * environment variables and, with the Spring starter, {@code openai.proxy.graphql.*} properties):
 *
 * <table>
 *   <caption>settings</caption>
 *   <tr><th>key</th><th>default</th></tr>
 *   <tr><td>{@code graphql.enabled}</td><td>{@code true}</td></tr>
 *   <tr><td>{@code graphql.path}</td><td>{@code /graphql}</td></tr>
 *   <tr><td>{@code graphql.max-depth}</td><td>15</td></tr>
 *   <tr><td>{@code graphql.max-complexity}</td><td>500 (one per field)</td></tr>
 *   <tr><td>{@code graphql.max-document-size}</td><td>100000 characters</td></tr>
 *   <tr><td>{@code graphql.introspection}</td><td>{@code true}</td></tr>
 *   <tr><td>{@code graphql.max-upstream-calls}</td><td>1</td></tr>
 *   <tr><td>{@code graphql.max-response-size}</td><td>the proxy's {@code max-body-size}</td></tr>
 * </table>
 *
 * @param enabled whether the endpoint is mounted
 * @param path where, relative to the proxy's mount point
 * @param maxDepth deepest selection accepted
 * @param maxComplexity most fields per operation (each field counts one, fragments expanded)
 * @param maxDocumentSize longest query document, in characters
 * @param introspection whether {@code __schema} and {@code __type} queries are answered
 * @param maxUpstreamCalls most billed upstream calls per operation ({@code getAIResponse},
 *     {@code generateImage}, {@code chatStream}; aliases and fragments counted), checked before any is made
 * @param maxResponseSize most bytes of one GraphQL answer; 0 means the proxy's {@code max-body-size}
 */
public record GraphQlOptions(
        boolean enabled,
        String path,
        int maxDepth,
        int maxComplexity,
        int maxDocumentSize,
        boolean introspection,
        int maxUpstreamCalls,
        long maxResponseSize) {
    public static final GraphQlOptions DEFAULTS = new GraphQlOptions(true, "/graphql", 15, 500, 100_000, true, 1, 0);

    public GraphQlOptions {
        if (path == null || !path.startsWith("/") || path.length() < 2) {
            throw new IllegalArgumentException("graphql.path must start with / and name a path: " + path);
        }
        if (maxDepth < 1 || maxComplexity < 1 || maxDocumentSize < 1) {
            throw new IllegalArgumentException("graphql limits must be positive");
        }
        if (maxUpstreamCalls < 1) {
            throw new IllegalArgumentException("graphql.max-upstream-calls must be at least 1");
        }
        if (maxResponseSize < 0) {
            throw new IllegalArgumentException("graphql.max-response-size must be positive (0: the proxy's)");
        }
    }

    /** The options with the default upstream-call and answer-size limits. */
    public GraphQlOptions(
            boolean enabled, String path, int maxDepth, int maxComplexity, int maxDocumentSize, boolean introspection) {
        this(enabled, path, maxDepth, maxComplexity, maxDocumentSize, introspection, 1, 0);
    }

    /**
     * Options from flat settings ({@code graphql.max-depth}, ...); unset keys keep the defaults, a
     * malformed value fails naming its key.
     */
    public static GraphQlOptions fromSettings(Function<String, String> lookup) {
        GraphQlOptions d = DEFAULTS;
        return new GraphQlOptions(
                bool(lookup, "graphql.enabled", d.enabled),
                text(lookup, "graphql.path", d.path),
                integer(lookup, "graphql.max-depth", d.maxDepth),
                integer(lookup, "graphql.max-complexity", d.maxComplexity),
                integer(lookup, "graphql.max-document-size", d.maxDocumentSize),
                bool(lookup, "graphql.introspection", d.introspection),
                integer(lookup, "graphql.max-upstream-calls", d.maxUpstreamCalls),
                size(lookup, "graphql.max-response-size", d.maxResponseSize));
    }

    /** The environment variable that carries a key: {@code OPENAI_PROXY_GRAPHQL_MAX_DEPTH}, ... */
    public static String environmentName(String key) {
        return ProxySettings.environmentName(key);
    }

    public GraphQlOptions withIntrospection(boolean introspection) {
        return new GraphQlOptions(
                enabled,
                path,
                maxDepth,
                maxComplexity,
                maxDocumentSize,
                introspection,
                maxUpstreamCalls,
                maxResponseSize);
    }

    public GraphQlOptions withMaxDepth(int maxDepth) {
        return new GraphQlOptions(
                enabled,
                path,
                maxDepth,
                maxComplexity,
                maxDocumentSize,
                introspection,
                maxUpstreamCalls,
                maxResponseSize);
    }

    public GraphQlOptions withMaxComplexity(int maxComplexity) {
        return new GraphQlOptions(
                enabled,
                path,
                maxDepth,
                maxComplexity,
                maxDocumentSize,
                introspection,
                maxUpstreamCalls,
                maxResponseSize);
    }

    public GraphQlOptions withMaxDocumentSize(int maxDocumentSize) {
        return new GraphQlOptions(
                enabled,
                path,
                maxDepth,
                maxComplexity,
                maxDocumentSize,
                introspection,
                maxUpstreamCalls,
                maxResponseSize);
    }

    public GraphQlOptions withMaxUpstreamCalls(int maxUpstreamCalls) {
        return new GraphQlOptions(
                enabled,
                path,
                maxDepth,
                maxComplexity,
                maxDocumentSize,
                introspection,
                maxUpstreamCalls,
                maxResponseSize);
    }

    /** The answer-size limit in bytes; 0 means the proxy's {@code max-body-size}. */
    public GraphQlOptions withMaxResponseSize(long maxResponseSize) {
        return new GraphQlOptions(
                enabled,
                path,
                maxDepth,
                maxComplexity,
                maxDocumentSize,
                introspection,
                maxUpstreamCalls,
                maxResponseSize);
    }

    private static String text(Function<String, String> lookup, String key, String fallback) {
        String v = lookup.apply(key);
        return v == null || v.isBlank() ? fallback : v.strip();
    }

    private static int integer(Function<String, String> lookup, String key, int fallback) {
        String v = text(lookup, key, null);
        return v == null ? fallback : ProxySettings.integer(key, v);
    }

    private static long size(Function<String, String> lookup, String key, long fallback) {
        String v = text(lookup, key, null);
        return v == null ? fallback : ProxySettings.parseSize(key, v);
    }

    private static boolean bool(Function<String, String> lookup, String key, boolean fallback) {
        String v = text(lookup, key, null);
        return v == null ? fallback : ProxySettings.parseBoolean(key, v);
    }
}
