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

    /** The value of an {@code Allow} header. */
    public String allowHeader() {
        java.util.TreeSet<String> all = new java.util.TreeSet<>(methods);
        all.add("OPTIONS");
        return String.join(", ", all);
    }
}
