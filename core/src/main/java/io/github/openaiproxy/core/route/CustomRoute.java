package io.github.openaiproxy.core.route;

import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * A route a module adds to the proxy, such as {@code /graphql}. The engine does for it what it does
 * for its own routes: CORS (preflight and headers), method check (405), body size limit (413); the route
 * answers the call, and may run sub-requests through the proxy (see {@link RouteCall#dispatch}).
 */
public interface CustomRoute {
    /**
     * The path relative to the mount point, for example {@code /graphql}. A segment written
     * {@code {name}} matches any single plain segment, as in {@code /sessions/{id}/messages}.
     */
    String path();

    /**
     * The name a policy's {@code routes} rule allows this route by, for example {@code graphql}; by default
     * the path's first segment ({@code sessions} for {@code /sessions/{id}}).
     */
    default String name() {
        String p = path().startsWith("/") ? path().substring(1) : path();
        int slash = p.indexOf('/');
        return slash < 0 ? p : p.substring(0, slash);
    }

    /** The methods the route accepts. */
    Set<String> methods();

    /** The shape of the errors the engine answers for this route (405, 413, ...). */
    default ErrorStyle errorStyle() {
        return ErrorStyle.SIMPLE;
    }

    /**
     * Whether the route checks its callers itself, as the admin API does with its admin tokens: the engine then
     * runs no identity or policy step for it (its credentials are not proxy keys), and {@link RouteCall#identity()}
     * is {@code null}. Such a route must refuse every caller it does not know.
     */
    default boolean authenticatesItself() {
        return false;
    }

    /**
     * Whether each call of this route counts as one request against the caller's policy's request-rate rules
     * ({@code requests-per-minute}, {@code -hour}, {@code -day}), though it calls no upstream: a route that makes
     * something lasting (a session, a row in a database) counts, so that no caller makes them without bound. A
     * call over the limit is refused with the 429 {@code rate_limit_exceeded} of the other routes, before the
     * route runs. Token and money budgets and the usage ledger are not touched. Ignored for a route that
     * {@linkplain #authenticatesItself() checks its callers itself} (it has no policy).
     */
    default boolean countsAsRequest() {
        return false;
    }

    /**
     * For a route that {@linkplain #authenticatesItself() checks its callers itself}: the error that refuses this
     * request, decided from its method, path and headers before its body is read, so that a caller the route does
     * not know cannot make the proxy read and hold a body only to be refused. Empty: the body is read and the call
     * goes on to {@link #handle}. The engine asks no other route. A 401 or 403 is reported to observers as an access
     * refusal whose reason is the error's code: keep codes to a small fixed set.
     */
    default Optional<ProxyError> refuseBeforeBody(ProxyRequest request) {
        return Optional.empty();
    }

    /**
     * The largest body this route reads, in bytes: a larger one is answered 413 as soon as it is declared or read
     * that far. The proxy's {@code max-body-size} applies when it is smaller (by default it always is).
     */
    default long maxBodySize() {
        return Long.MAX_VALUE;
    }

    /**
     * Answers a call. The future must complete with a response (never exceptionally, except by
     * cancellation when the client goes away). The engine adds the CORS headers.
     */
    CompletableFuture<ProxyResponse> handle(RouteCall call);
}
