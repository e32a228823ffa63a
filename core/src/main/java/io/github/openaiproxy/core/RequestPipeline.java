package io.github.openaiproxy.core;

import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteTable;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

/**
 * The request's way through the engine, in this order. The route lookup picks one chain by the kind of
 * the matched route; each step ({@link RequestStep}) answers, changes the request or passes it on.
 *
 * <pre>
 *  every request:
 *    0. host steps at AFTER_RESPONSE_HEADERS   around all that follows; see every response (when one of them
 *                                              fails, the engine's 500 carries the CORS headers too)
 *       Recover                                a failure of what follows: 500 (with CORS headers once judged)
 *    1. AllowedHost                            403 for a host not served (DNS rebinding), no CORS headers
 *    2. Cors                                   judges the origin; CORS headers on every later answer
 *  no route:  3. WebSocketUpgrade 501 · NotFound 404
 *  a route:
 *    3. Preflight                              answers OPTIONS (preflight 204/403, plain 204 with Allow)
 *    4. Origin                                 403 for a disallowed origin
 *    4a. WebSocketUpgrade                      501 websocket_not_supported for a WebSocket handshake (the
 *                                              Realtime API's): before identity and limits, nothing looked up,
 *                                              counted or sent upstream
 *    5. Method                                 405
 *  simple (POST /, /images/generations, /generate-image):
 *    6. Identify                               who calls: proxy key, host user, JWT or anonymous (401)
 *    7. ContentType 415 · ContentEncoding 415 · ContentLength 413 (declared)
 *    8. ReadBody                               the whole body, 413 when over the limit
 *    9. Simple                                 JSON (400), chat or image, session asked for, normalization (400)
 *   10. Authorize                              the identity's policy: route, model (403), caps (clamp or 400)
 *   10a. RouteUpstream                         only with named upstreams: the normalized model picks the upstream
 *                                              as on /v1 (7b); SendUpstream then calls it through UpstreamAttempts
 *                                              (alias rename of the body as the later steps leave it, retries,
 *                                              fallbacks, keys, breaker, the client's model echoed)
 *   10b. Limit                                 the policy's quotas: reserves requests, estimated tokens and
 *                                              cost, a concurrency lease (429, 400 never fits, 503 store down);
 *                                              settles on the answer's usage and records it in the ledger;
 *                                              refunds when no upstream call followed
 *   11. ResolveKey                             403/500 (skipped for a named upstream: its own keys)
 *   12. host steps at BEFORE_UPSTREAM
 *   13. Sessions                               decorator: begin (404/503), the call below, record
 *   14. StoreImages                            only with images.store: stores a generated image's files and
 *                                              rewrites its links (the original answer when storing fails)
 *   15. SendUpstream                           permit (429/503), call (502/504), relay; a routed request
 *                                              through UpstreamAttempts (OpenAI-Proxy-Upstream names it)
 *  pass-through (/v1/...):
 *    6. Query 400 · Identify 401 · ContentType 415 · ContentLength 413 (declared; an upload's limit is
 *       max-upload-size, see BodyLimits)
 *    7. Authorize                              the identity's policy; reads the body only when a rule needs it
 *    7b. RouteUpstream                         only with named upstreams: reads a JSON body, routes it by model
 *                                              (alias renames it), answers GET /v1/models with their models;
 *                                              an upload goes to the default upstream unread (8 streams it)
 *    7c. Limit                                 as 10b; reads the JSON body of the model-calling POST routes
 *                                              (chat, completions, responses, embeddings, images) within the
 *                                              body limit when the policy has quotas or the ledger is on;
 *                                              other routes count requests only, their body unread
 *    8. PassThrough                            the body unread: it streams to the upstream, counted (413)
 *                                              against max-body-size, or max-upload-size for an upload
 *    9. ResolveKey · host steps at BEFORE_UPSTREAM · StoreImages (images.store) · SendUpstream
 *  custom (module routes such as /graphql, the session routes):
 *    6. Identify · ContentType 415 · ContentEncoding 415 · ContentLength 413 (declared)
 *    7. ReadBody · Authorize (route) · CountedRoutes · Custom
 *                                              CountedRoutes: a route that counts as a request (POST /sessions)
 *                                              takes one on the request-rate counters (429), nothing else;
 *                                              the module answers; its sub-requests run this pipeline under
 *                                              the client request's identity (Identify passes them on), so
 *                                              their upstream calls are limited and recorded (10b)
 *  self-authenticating custom (the admin API, see CustomRoute#authenticatesItself):
 *    6. RefuseBeforeBody                       the route checks its own credentials (admin tokens, role)
 *                                              from the headers: 401/403 before any body is read
 *    7. ContentType 415 · ContentEncoding 415 · ContentLength 413 (declared, within the route's own
 *       maxBodySize when smaller)
 *    8. ReadBody · Custom
 * </pre>
 *
 * Built once per engine; the chains are arrays of shared, stateless steps.
 */
final class RequestPipeline {
    private final RouteTable routes;
    private final RequestStep[] unmatched;
    private final Map<RouteKindChain, RequestStep[]> chains;
    private final RequestChecks.AllowedHost allowedHost;
    private final RequestChecks.Cors cors;

    /** The chains by what a route does; {@code CHAT_OR_IMAGE} and {@code IMAGE} share the simple one. */
    enum RouteKindChain {
        SIMPLE,
        PASS_THROUGH,
        CUSTOM,
        /** A custom route that checks its callers itself: no identity or policy step. */
        SELF_AUTHENTICATED
    }

    /** The steps the engine builds, handed over by the engine's constructor. */
    record Parts(
            RequestChecks.AllowedHost allowedHost,
            RequestChecks.Cors cors,
            RequestChecks.Preflight preflight,
            RequestChecks.ContentLength contentLength,
            IdentifyStep identify,
            AuthorizeStep authorize,
            RouteHandlers.ReadBody readBody,
            RouteHandlers.Simple simple,
            RouteHandlers.PassThrough passThrough,
            RouteHandlers.ResolveKey resolveKey,
            RouteHandlers.Sessions sessions,
            RouteHandlers.Custom custom,
            /** Stores generated images; {@code null} when images.store is none. */
            RouteHandlers.StoreImages storeImages,
            SendUpstream send,
            /** Picks the named upstream by model; {@code null} without named upstreams (no routing step). */
            RouteUpstream routeUpstream,
            /** Rate limits, budgets and the usage ledger. */
            LimitStep limits) {}

    RequestPipeline(RouteTable routes, Parts p, Map<RequestStep.Position, List<RequestStep>> hostSteps) {
        this.routes = routes;
        this.allowedHost = p.allowedHost();
        this.cors = p.cors();
        List<RequestStep> around = host(hostSteps, RequestStep.Position.AFTER_RESPONSE_HEADERS);
        List<RequestStep> beforeUpstream = host(hostSteps, RequestStep.Position.BEFORE_UPSTREAM);
        // A WebSocket handshake gets its 501 on an unknown path too: the Realtime API's /v1/realtime is one.
        this.unmatched = chain(
                around, p.allowedHost(), p.cors(), RequestChecks.WebSocketUpgrade.STEP, RequestChecks.NotFound.STEP);
        // Steps 3-5, the same on every route.
        List<RequestStep> routeChecks = List.of(
                p.allowedHost(),
                p.cors(),
                p.preflight(),
                RequestChecks.Origin.STEP,
                RequestChecks.WebSocketUpgrade.STEP,
                RequestChecks.Method.STEP);
        // Steps 6-7 of the routes that read the body whole (simple and custom).
        List<RequestStep> readWhole = List.of(
                RequestChecks.ContentType.STEP, RequestChecks.ContentEncoding.STEP, p.contentLength(), p.readBody());
        EnumMap<RouteKindChain, RequestStep[]> byKind = new EnumMap<>(RouteKindChain.class);
        byKind.put(
                RouteKindChain.SIMPLE,
                chain(
                        around,
                        routeChecks,
                        p.identify(),
                        readWhole,
                        p.simple(),
                        p.authorize(),
                        // Only with named upstreams: routes the normalized body by its model, as on /v1.
                        p.routeUpstream() == null ? List.of() : p.routeUpstream(),
                        p.limits(),
                        p.resolveKey(),
                        beforeUpstream,
                        p.sessions(),
                        optional(p.storeImages()),
                        p.send()));
        byKind.put(
                RouteKindChain.PASS_THROUGH,
                chain(
                        around,
                        routeChecks,
                        RequestChecks.Query.STEP,
                        RequestChecks.RelayedHeaders.STEP,
                        p.identify(),
                        RequestChecks.ContentType.STEP,
                        p.contentLength(),
                        p.authorize(),
                        // Only with named upstreams: reads a JSON body to route it by model.
                        p.routeUpstream() == null ? List.of() : p.routeUpstream(),
                        p.limits(),
                        p.passThrough(),
                        p.resolveKey(),
                        beforeUpstream,
                        optional(p.storeImages()),
                        p.send()));
        byKind.put(
                RouteKindChain.CUSTOM,
                chain(
                        around,
                        routeChecks,
                        p.identify(),
                        readWhole,
                        p.authorize(),
                        // Routes that make something lasting (a session) count as a request: nothing else bounds them.
                        p.limits().countedRoutes(),
                        p.custom()));
        // The admin API checks its own credentials (admin tokens are not proxy keys).
        // Its refusal comes before the body is read: an unknown caller cannot have a body buffered for a 401.
        byKind.put(
                RouteKindChain.SELF_AUTHENTICATED,
                chain(around, routeChecks, RouteHandlers.RefuseBeforeBody.STEP, readWhole, p.custom()));
        this.chains = byKind;
    }

    /** Runs a request: looks up its route, then the chain for the route's kind. */
    CompletableFuture<ProxyResponse> run(RequestContext ctx) {
        String path = ctx.request.path();
        Route route = routes.match(path).orElse(null);
        ctx.route = route;
        if (route == null) {
            ctx.style = styleForUnknown(path);
            return ctx.start(unmatched);
        }
        ctx.style = route.errorStyle();
        return ctx.start(chains.get(kindChain(route)));
    }

    /**
     * What the engine's 500 for a failure of a host step around the pipeline ({@code AFTER_RESPONSE_HEADERS}) is
     * made with: the request's CORS headers, judged now if that step failed before the CORS step ran (none for a
     * host not served), in the route's error shape.
     */
    ResponseFactory lastResort(RequestContext ctx) {
        ErrorStyle style = ctx.style != null ? ctx.style : styleForUnknown(ctx.request.path());
        return cors.lastResort(ctx, allowedHost, style);
    }

    /** The steps of the chain a route runs, in order, the host's as it gave them (for tests and for reading). */
    List<RequestStep> steps(Route route) {
        return Stream.of(route == null ? unmatched : chains.get(kindChain(route)))
                .map(s -> s instanceof HostStep h ? h.step() : s)
                .toList();
    }

    /** The host's steps at {@code position}, each passing the request on at most once (see {@link HostStep}). */
    private static List<RequestStep> host(Map<RequestStep.Position, List<RequestStep>> steps, RequestStep.Position at) {
        return steps.getOrDefault(at, List.of()).stream()
                .<RequestStep>map(HostStep::new)
                .toList();
    }

    static RouteKindChain kindChain(Route route) {
        return switch (route.kind()) {
            case CHAT_OR_IMAGE, IMAGE -> RouteKindChain.SIMPLE;
            case PASS_THROUGH -> RouteKindChain.PASS_THROUGH;
            case CUSTOM ->
                route.custom().authenticatesItself() ? RouteKindChain.SELF_AUTHENTICATED : RouteKindChain.CUSTOM;
        };
    }

    /** The error shape for a path that is no route: OpenAI's under {@code /v1}, the seed's elsewhere. */
    static ErrorStyle styleForUnknown(String path) {
        return path.equals("/v1") || path.startsWith("/v1/") ? ErrorStyle.OPENAI : ErrorStyle.SIMPLE;
    }

    private static List<RequestStep> optional(RequestStep step) {
        return step == null ? List.of() : List.of(step);
    }

    private static RequestStep[] chain(List<RequestStep> around, Object... steps) {
        List<RequestStep> all = new ArrayList<>(around);
        all.add(Recover.STEP); // inside the host's steps around the pipeline: they see its 500 too
        for (Object s : steps) {
            if (s instanceof RequestStep step) {
                all.add(step);
            } else {
                for (Object o : (List<?>) s) {
                    all.add((RequestStep) o);
                }
            }
        }
        return all.toArray(new RequestStep[0]);
    }
}
