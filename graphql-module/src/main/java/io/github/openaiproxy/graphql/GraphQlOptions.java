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
 * </table>
 *
 * @param enabled whether the endpoint is mounted
 * @param path where, relative to the proxy's mount point
 * @param maxDepth deepest selection accepted
 * @param maxComplexity most fields per operation (each field counts one, fragments expanded)
 * @param maxDocumentSize longest query document, in characters
 * @param introspection whether {@code __schema} and {@code __type} queries are answered
 */
public record GraphQlOptions(
        boolean enabled, String path, int maxDepth, int maxComplexity, int maxDocumentSize, boolean introspection) {
    public static final GraphQlOptions DEFAULTS = new GraphQlOptions(true, "/graphql", 15, 500, 100_000, true);

    public GraphQlOptions {
        if (path == null || !path.startsWith("/") || path.length() < 2) {
            throw new IllegalArgumentException("graphql.path must start with / and name a path: " + path);
        }
        if (maxDepth < 1 || maxComplexity < 1 || maxDocumentSize < 1) {
            throw new IllegalArgumentException("graphql limits must be positive");
        }
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
                bool(lookup, "graphql.introspection", d.introspection));
    }

    /** The environment variable that carries a key: {@code OPENAI_PROXY_GRAPHQL_MAX_DEPTH}, ... */
    public static String environmentName(String key) {
        return ProxySettings.environmentName(key);
    }

    public GraphQlOptions withIntrospection(boolean introspection) {
        return new GraphQlOptions(enabled, path, maxDepth, maxComplexity, maxDocumentSize, introspection);
    }

    public GraphQlOptions withMaxDepth(int maxDepth) {
        return new GraphQlOptions(enabled, path, maxDepth, maxComplexity, maxDocumentSize, introspection);
    }

    public GraphQlOptions withMaxComplexity(int maxComplexity) {
        return new GraphQlOptions(enabled, path, maxDepth, maxComplexity, maxDocumentSize, introspection);
    }

    public GraphQlOptions withMaxDocumentSize(int maxDocumentSize) {
        return new GraphQlOptions(enabled, path, maxDepth, maxComplexity, maxDocumentSize, introspection);
    }

    private static String text(Function<String, String> lookup, String key, String fallback) {
        String v = lookup.apply(key);
        return v == null || v.isBlank() ? fallback : v.strip();
    }

    private static int integer(Function<String, String> lookup, String key, int fallback) {
        String v = text(lookup, key, null);
        return v == null ? fallback : ProxySettings.integer(key, v);
    }

    private static boolean bool(Function<String, String> lookup, String key, boolean fallback) {
        String v = text(lookup, key, null);
        return v == null ? fallback : ProxySettings.parseBoolean(key, v);
    }
}
