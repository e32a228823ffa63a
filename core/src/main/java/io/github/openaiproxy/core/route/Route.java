package io.github.openaiproxy.core.route;

import io.github.openaiproxy.core.error.ErrorStyle;
import java.util.Set;

/**
 * A path the proxy answers, with the methods it accepts there.
 *
 * @param template the path template relative to the mount point
 * @param kind what the route does
 * @param methods accepted methods (OPTIONS is always answered as a preflight; with GET comes HEAD)
 * @param requiresJson whether POST bodies must be declared as JSON
 * @param custom the module's handler for a {@link RouteKind#CUSTOM} route, else {@code null}
 */
public record Route(String template, RouteKind kind, Set<String> methods, boolean requiresJson, CustomRoute custom) {
    public Route {
        if (methods.contains("GET") && !methods.contains("HEAD")) {
            // HTTP: a resource that answers GET answers HEAD (the engine runs it as a GET without body).
            java.util.Set<String> withHead = new java.util.HashSet<>(methods);
            withHead.add("HEAD");
            methods = withHead;
        }
        methods = Set.copyOf(methods);
        if ((kind == RouteKind.CUSTOM) != (custom != null)) {
            throw new IllegalArgumentException("a custom route needs its handler, and only it");
        }
    }

    /** A built-in route. */
    public Route(String template, RouteKind kind, Set<String> methods, boolean requiresJson) {
        this(template, kind, methods, requiresJson, null);
    }

    /** The shape of the errors this route answers with. */
    public ErrorStyle errorStyle() {
        if (custom != null) {
            return custom.errorStyle();
        }
        return kind == RouteKind.PASS_THROUGH ? ErrorStyle.OPENAI : ErrorStyle.SIMPLE;
    }

    /**
     * The path the upstream is asked for, given the client's (encoded, without query). A model id sent with encoded
     * slashes (openai-java) goes on with raw ones, as the Node and Python SDKs send it and OpenAI-compatible servers
     * route it; every other path goes on as the client sent it.
     */
    public String upstreamPath(String path) {
        return template.equals(RouteTable.MODEL_TEMPLATE)
                ? path.replace("%2F", "/").replace("%2f", "/")
                : path;
    }

    /** The value of an {@code Allow} header. */
    public String allowHeader() {
        java.util.TreeSet<String> all = new java.util.TreeSet<>(methods);
        all.add("OPTIONS");
        return String.join(", ", all);
    }
}
