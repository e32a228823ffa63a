package io.github.openaiproxy.core.route;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * One OpenAI-compatible route relayed unchanged, such as {@code POST /v1/chat/completions}. A path
 * segment written {@code {name}} matches any single segment, but the id of {@code /v1/models/{id}} takes the rest of
 * the path (see {@link RouteTable#MODEL_TEMPLATE}).
 *
 * @param method the HTTP method
 * @param template the path template, starting with {@code /v1/}
 */
public record PassThroughRoute(String method, String template) {
    /** The routes relayed by default. */
    public static final List<PassThroughRoute> DEFAULTS = List.of(
            new PassThroughRoute("POST", "/v1/chat/completions"),
            new PassThroughRoute("POST", "/v1/images/generations"),
            new PassThroughRoute("POST", "/v1/embeddings"),
            new PassThroughRoute("POST", "/v1/responses"),
            new PassThroughRoute("GET", "/v1/models"),
            new PassThroughRoute("GET", "/v1/models/{id}"));

    public PassThroughRoute {
        method = Objects.requireNonNull(method, "method").strip().toUpperCase(Locale.ROOT);
        template = Objects.requireNonNull(template, "template").strip();
        if (!method.matches("GET|POST|PUT|PATCH|DELETE")) {
            throw new IllegalArgumentException(
                    "pass-through route method must be GET, POST, PUT, PATCH or DELETE: " + method);
        }
        if (!template.startsWith("/v1/") || template.contains("..") || template.contains("?")) {
            throw new IllegalArgumentException("pass-through route path must start with /v1/: " + template);
        }
    }

    /** Parses {@code "POST /v1/chat/completions"}. */
    public static PassThroughRoute parse(String spec) {
        String[] parts = spec.strip().split("\\s+");
        if (parts.length != 2) {
            throw new IllegalArgumentException("pass-through route must read 'METHOD /v1/path': " + spec);
        }
        return new PassThroughRoute(parts[0], parts[1]);
    }

    /** Whether the proxy requires a JSON body: true for the built-in JSON routes, false for any route a user adds. */
    public boolean requiresJson() {
        return method.equals("POST") && DEFAULTS.contains(this);
    }

    @Override
    public String toString() {
        return method + " " + template;
    }
}
