package io.github.openaiproxy.core.route;

import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Internal;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * A {@link CustomRoute} made of its parts and a function that answers its calls, for core's own routes
 * (sessions, admin API).
 *
 * @param path the path relative to the mount point
 * @param methods the methods the route accepts
 * @param errorStyle the shape of the errors the engine answers for it
 * @param authenticatesItself whether the route checks its callers itself
 * @param countsAsRequest whether each call counts against the caller's request-rate rules
 * @param handler answers a call
 */
@Internal
public record FunctionRoute(
        String path,
        Set<String> methods,
        ErrorStyle errorStyle,
        boolean authenticatesItself,
        boolean countsAsRequest,
        Function<RouteCall, CompletableFuture<ProxyResponse>> handler)
        implements CustomRoute {
    public FunctionRoute {
        Objects.requireNonNull(path, "path");
        methods = Set.copyOf(methods);
        Objects.requireNonNull(errorStyle, "errorStyle");
        Objects.requireNonNull(handler, "handler");
    }

    /** A route that does not count as a request (see {@link CustomRoute#countsAsRequest}). */
    public FunctionRoute(
            String path,
            Set<String> methods,
            ErrorStyle errorStyle,
            boolean authenticatesItself,
            Function<RouteCall, CompletableFuture<ProxyResponse>> handler) {
        this(path, methods, errorStyle, authenticatesItself, false, handler);
    }

    /** A route with the defaults of {@link CustomRoute}: simple errors, callers checked by the engine. */
    public FunctionRoute(
            String path, Set<String> methods, Function<RouteCall, CompletableFuture<ProxyResponse>> handler) {
        this(path, methods, ErrorStyle.SIMPLE, false, false, handler);
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RouteCall call) {
        return handler.apply(call);
    }
}
