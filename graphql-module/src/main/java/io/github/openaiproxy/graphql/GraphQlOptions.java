package io.github.openaiproxy.graphql;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsBinder;
import io.github.openaiproxy.core.config.SettingsCatalog;
import java.util.function.Function;

/**
 * How the GraphQL endpoint is served. The flat keys (for init parameters, {@code OPENAI_PROXY_GRAPHQL_*}
 * environment variables and, with the Spring starter, {@code openai.proxy.graphql.*} properties) are
 * described by {@link #SETTINGS}, the module's part of the proxy's one configuration vocabulary:
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
 * @param maxComplexity most fields per operation (each field counts one and a top-level field 25, fragments
 *     expanded)
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

    /** This module's settings, next to core's {@link ProxySettings#CATALOG}. */
    public static final SettingsCatalog SETTINGS = SettingsCatalog.of(
            Setting.of("graphql.enabled", Setting.Type.BOOLEAN, "true", "Whether the GraphQL endpoint is mounted."),
            Setting.string("graphql.path", "/graphql", "Where the GraphQL endpoint is mounted, relative to the proxy."),
            Setting.of("graphql.max-depth", Setting.Type.INT, "15", "Deepest selection accepted."),
            Setting.of(
                    "graphql.max-complexity",
                    Setting.Type.INT,
                    "500",
                    "Most fields per operation (a top-level field counts 25), and selections per document as written."),
            Setting.of(
                    "graphql.max-document-size", Setting.Type.INT, "100000", "Longest query document, in characters."),
            Setting.of(
                    "graphql.introspection",
                    Setting.Type.BOOLEAN,
                    "true",
                    "Whether __schema and __type queries are answered."),
            Setting.of(
                    "graphql.max-upstream-calls", Setting.Type.INT, "1", "Most billed upstream calls per operation."),
            // Unset: the proxy's max-body-size (0 in the record).
            Setting.of(
                    "graphql.max-response-size",
                    Setting.Type.SIZE,
                    null,
                    "Largest GraphQL answer; unset: the proxy's max-body-size."));

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
     * Options from flat settings ({@code graphql.max-depth}, ...); unset or blank keys keep the defaults, a
     * refused value fails naming its key.
     */
    public static GraphQlOptions fromSettings(Function<String, String> lookup) {
        return from(SettingsBinder.fromText(SETTINGS, lookup));
    }

    /**
     * Options read through a binder over {@link #SETTINGS} (or a catalog containing it): each value is checked
     * as it is applied, so an error names the key that was refused.
     */
    public static GraphQlOptions from(SettingsBinder settings) {
        GraphQlOptions o = DEFAULTS;
        o = settings.with(o, "graphql.enabled", GraphQlOptions::withEnabled);
        o = settings.with(o, "graphql.path", (GraphQlOptions c, String v) -> c.withPath(trimPath(v)));
        o = settings.with(o, "graphql.max-depth", GraphQlOptions::withMaxDepth);
        o = settings.with(o, "graphql.max-complexity", GraphQlOptions::withMaxComplexity);
        o = settings.with(o, "graphql.max-document-size", GraphQlOptions::withMaxDocumentSize);
        o = settings.with(o, "graphql.introspection", GraphQlOptions::withIntrospection);
        o = settings.with(o, "graphql.max-upstream-calls", GraphQlOptions::withMaxUpstreamCalls);
        return settings.with(o, "graphql.max-response-size", GraphQlOptions::withMaxResponseSize);
    }

    /** As for the proxy's path: {@code /graphql/} is {@code /graphql}. */
    private static String trimPath(String path) {
        String p = path;
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p;
    }

    /** The environment variable that carries a key: {@code OPENAI_PROXY_GRAPHQL_MAX_DEPTH}, ... */
    public static String environmentName(String key) {
        return ProxySettings.environmentName(key);
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** A builder starting from {@link #DEFAULTS}. */
    public static Builder builder() {
        return DEFAULTS.toBuilder();
    }

    public GraphQlOptions withEnabled(boolean enabled) {
        return toBuilder().enabled(enabled).build();
    }

    public GraphQlOptions withPath(String path) {
        return toBuilder().path(path).build();
    }

    public GraphQlOptions withMaxDepth(int maxDepth) {
        return toBuilder().maxDepth(maxDepth).build();
    }

    public GraphQlOptions withMaxComplexity(int maxComplexity) {
        return toBuilder().maxComplexity(maxComplexity).build();
    }

    public GraphQlOptions withMaxDocumentSize(int maxDocumentSize) {
        return toBuilder().maxDocumentSize(maxDocumentSize).build();
    }

    public GraphQlOptions withIntrospection(boolean introspection) {
        return toBuilder().introspection(introspection).build();
    }

    public GraphQlOptions withMaxUpstreamCalls(int maxUpstreamCalls) {
        return toBuilder().maxUpstreamCalls(maxUpstreamCalls).build();
    }

    /** The answer-size limit in bytes; 0 means the proxy's {@code max-body-size}. */
    public GraphQlOptions withMaxResponseSize(long maxResponseSize) {
        return toBuilder().maxResponseSize(maxResponseSize).build();
    }

    /** Options to change one or a few at a time; {@link #build()} checks them all. */
    public static final class Builder {
        private boolean enabled;
        private String path;
        private int maxDepth;
        private int maxComplexity;
        private int maxDocumentSize;
        private boolean introspection;
        private int maxUpstreamCalls;
        private long maxResponseSize;

        private Builder(GraphQlOptions o) {
            enabled = o.enabled;
            path = o.path;
            maxDepth = o.maxDepth;
            maxComplexity = o.maxComplexity;
            maxDocumentSize = o.maxDocumentSize;
            introspection = o.introspection;
            maxUpstreamCalls = o.maxUpstreamCalls;
            maxResponseSize = o.maxResponseSize;
        }

        public Builder enabled(boolean value) {
            enabled = value;
            return this;
        }

        public Builder path(String value) {
            path = value;
            return this;
        }

        public Builder maxDepth(int value) {
            maxDepth = value;
            return this;
        }

        public Builder maxComplexity(int value) {
            maxComplexity = value;
            return this;
        }

        public Builder maxDocumentSize(int value) {
            maxDocumentSize = value;
            return this;
        }

        public Builder introspection(boolean value) {
            introspection = value;
            return this;
        }

        public Builder maxUpstreamCalls(int value) {
            maxUpstreamCalls = value;
            return this;
        }

        public Builder maxResponseSize(long value) {
            maxResponseSize = value;
            return this;
        }

        public GraphQlOptions build() {
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
    }
}
