package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.AllowedHosts;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The checks at the front of the {@link RequestPipeline}, one job each. Each answers with the proxy's own
 * error or passes the request on; none reads the body.
 */
final class RequestChecks {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private RequestChecks() {}

    /** The DNS-rebinding guard: a request for a host the proxy does not serve gets nothing of it. */
    static final class AllowedHost implements RequestStep {
        private final AllowedHosts hosts;

        AllowedHost(AllowedHosts hosts) {
            this.hosts = hosts;
        }

        /** Whether the request's host is one the proxy serves. */
        boolean serves(ProxyRequest request) {
            return hosts.allows(request);
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (!serves(ctx.request)) {
                // Before anything else, and without CORS headers: nothing of the proxy for a rebound page.
                return ctx.respond(ProxyError.hostNotAllowed());
            }
            return next.proceed(ctx);
        }
    }

    /** Judges the origin; every later answer carries the CORS headers it earns. Never answers. */
    static final class Cors implements RequestStep {
        private final CorsPolicy cors;

        Cors(CorsPolicy cors) {
            this.cors = cors;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            Optional<String> origin = ctx.request.header("Origin");
            CorsPolicy.Verdict verdict = cors.judge(origin, ctx.request.requestOrigin());
            ctx.verdict = verdict;
            ctx.responses = responses(ctx.style, origin, verdict);
            return next.proceed(ctx);
        }

        /**
         * The factory for the engine's last-resort 500 when a host step around the pipeline failed, perhaps before
         * this step ran: the one this step made, else this step's judgement now ({@code hosts} first, as in the
         * pipeline). The context is left as it is.
         */
        ResponseFactory lastResort(RequestContext ctx, AllowedHost hosts, ErrorStyle style) {
            if (ctx.responses != null) {
                return ctx.responses;
            }
            if (!hosts.serves(ctx.request)) {
                return new ResponseFactory(style, Map.of());
            }
            Optional<String> origin = ctx.request.header("Origin");
            return responses(style, origin, cors.judge(origin, ctx.request.requestOrigin()));
        }

        private ResponseFactory responses(ErrorStyle style, Optional<String> origin, CorsPolicy.Verdict verdict) {
            return new ResponseFactory(
                    style,
                    verdict == CorsPolicy.Verdict.ALLOWED ? cors.responseHeaders(origin.orElseThrow()) : Map.of());
        }
    }

    /** 404 for a path that is no route (the last step of the unmatched chain). */
    enum NotFound implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            return ctx.respond(ProxyError.notFound(ctx.request.method(), ctx.request.path()));
        }
    }

    /** Answers {@code OPTIONS}: a CORS preflight, or a plain one that learns the route's methods. */
    static final class Preflight implements RequestStep {
        private final CorsPolicy cors;

        Preflight(CorsPolicy cors) {
            this.cors = cors;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (!ctx.request.method().equals("OPTIONS")) {
                return next.proceed(ctx);
            }
            return CompletableFuture.completedFuture(preflight(ctx));
        }

        private ProxyResponse preflight(RequestContext ctx) {
            ProxyRequest request = ctx.request;
            Route route = ctx.route;
            Optional<String> origin = request.header("Origin");
            Optional<String> method = request.header("Access-Control-Request-Method");
            if (origin.isEmpty() || method.isEmpty() || ctx.verdict == CorsPolicy.Verdict.NOT_CORS) {
                // A plain OPTIONS (or a same-origin one), not a preflight: say what the route accepts.
                HeaderMap h = ctx.responses().baseHeaders().set("Allow", route.allowHeader());
                return ResponseFactory.empty(204, h);
            }
            CorsPolicy.Preflight answer = cors.preflight(
                    origin.get(),
                    method.get(),
                    String.join(",", request.headers().allValues("Access-Control-Request-Headers")),
                    route.methods());
            if (answer instanceof CorsPolicy.Preflight.Accepted accepted) {
                HeaderMap h = ResponseFactory.commonHeaders().setAll(accepted.headers());
                return ResponseFactory.empty(204, h);
            }
            String reason = ((CorsPolicy.Preflight.Rejected) answer).reason();
            LOG.log(System.Logger.Level.DEBUG, "preflight from {0} rejected: {1}", origin.get(), reason);
            return new ResponseFactory(ctx.style, Map.of()).error(ProxyError.preflightRejected(reason));
        }
    }

    /** 403 for a cross-origin request from an origin that is not allowed. */
    enum Origin implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (ctx.verdict == CorsPolicy.Verdict.DENIED) {
                return ctx.respond(ProxyError.originNotAllowed());
            }
            return next.proceed(ctx);
        }
    }

    /**
     * 501 for a WebSocket handshake ({@code GET} with {@code Connection: upgrade} and {@code Upgrade: websocket}, as
     * the Realtime API's clients send it): the proxy relays HTTP only, and a GET route would otherwise go upstream
     * as a plain GET, made with the proxy's key and answered with something no WebSocket client can use. Before
     * the identity and the limits: nothing is looked up, counted or sent, and every caller learns only what the
     * proxy cannot do, the same on every path.
     */
    enum WebSocketUpgrade implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (isWebSocketHandshake(ctx.request)) {
                return ctx.respond(ProxyError.webSocketNotSupported());
            }
            return next.proceed(ctx);
        }

        static boolean isWebSocketHandshake(ProxyRequest request) {
            return request.method().equals("GET")
                    && hasToken(request.headers().allValues("Upgrade"), "websocket")
                    && hasToken(request.headers().allValues("Connection"), "upgrade");
        }

        /** Whether a comma-list header holds {@code token}, in any case ({@code Connection: keep-alive, Upgrade}). */
        private static boolean hasToken(List<String> values, String token) {
            for (String value : values) {
                for (String t : value.split(",")) {
                    if (t.strip().equalsIgnoreCase(token)) {
                        return true;
                    }
                }
            }
            return false;
        }
    }

    /** 405 for a method the route does not take. */
    enum Method implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            String method = ctx.request.method();
            if (!ctx.route.methods().contains(method)) {
                return ctx.respond(ProxyError.methodNotAllowed(method, ctx.route.allowHeader()));
            }
            return next.proceed(ctx);
        }
    }

    /**
     * 400 for a query the upstream URI cannot carry (pass-through routes forward it as written): one that is not
     * validly percent-encoded, or that holds characters outside ASCII; and for one that carries a proxy key or admin
     * token (a name or value starting {@code opk-} or {@code opa-}): the proxy reads its credentials from the {@code
     * Authorization} header only, so forwarding the query would hand the client's secret to the upstream's logs.
     */
    enum Query implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            Optional<String> query = ctx.request.rawQuery();
            if (query.isPresent() && !isValidQuery(query.get())) {
                return ctx.respond(ProxyError.badRequest(
                        "Invalid query string", "The query string is not validly percent-encoded", null));
            }
            if (query.isPresent() && carriesCredential(query.get())) {
                // Never echoed: the value is the client's secret.
                return ctx.respond(ProxyError.badRequest(
                        "Credential in query string",
                        "A proxy key belongs in the Authorization header (Bearer), not in the query string, which"
                                + " the upstream would receive",
                        null));
            }
            return next.proceed(ctx);
        }

        /** Whether a parameter's name or value, decoded, is shaped as a proxy key or admin token. */
        private static boolean carriesCredential(String rawQuery) {
            if (!rawQuery.contains("op") && !rawQuery.contains("%")) {
                return false; // the usual query: nothing to decode
            }
            for (String param : rawQuery.split("&")) {
                int eq = param.indexOf('=');
                for (String part : eq < 0 ? List.of(param) : List.of(param.substring(0, eq), param.substring(eq + 1))) {
                    String v;
                    try {
                        v = URLDecoder.decode(part, StandardCharsets.UTF_8).strip();
                    } catch (IllegalArgumentException e) {
                        v = part;
                    }
                    if (v.startsWith(ProxyKeys.PREFIX) || v.startsWith(ProxyKeys.ADMIN_TOKEN_PREFIX)) {
                        return true;
                    }
                }
            }
            return false;
        }

        private static boolean isValidQuery(String rawQuery) {
            // java.net.URI takes non-ASCII characters as they are, but a request target carries ASCII only: a
            // container that hands raw non-ASCII bytes to the application (Jetty does) must not have them
            // forwarded, mangled to '?' or as bytes the upstream refuses.
            for (int i = 0; i < rawQuery.length(); i++) {
                if (rawQuery.charAt(i) > 0x7E) {
                    return false;
                }
            }
            try {
                new URI("http://upstream/?" + rawQuery);
                return true;
            } catch (URISyntaxException e) {
                return false;
            }
        }
    }

    /**
     * 400 for a header the pass-through routes relay ({@link UpstreamRequests#RELAYED_CLIENT_HEADERS}) whose
     * value holds a character outside printable ASCII and tab. Containers accept such bytes (obs-text), but the
     * upstream clients re-encode them, each its own way (the JDK's as '?', Jetty's as UTF-8): the upstream would
     * not get what was sent, and two different idempotency keys could reach it as one.
     */
    enum RelayedHeaders implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            for (String name : UpstreamRequests.RELAYED_CLIENT_HEADERS) {
                for (String value : ctx.request.headers().allValues(name)) {
                    if (!isPrintableAscii(value)) {
                        return ctx.respond(ProxyError.badRequest(
                                "Invalid header",
                                "The " + name + " header contains characters that cannot be sent upstream"
                                        + " (only printable ASCII)",
                                null));
                    }
                }
            }
            return next.proceed(ctx);
        }

        private static boolean isPrintableAscii(String value) {
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if ((c < 0x20 && c != '\t') || c > 0x7E) {
                    return false;
                }
            }
            return true;
        }
    }

    /** 415 for a body that is not JSON on a route that takes JSON. */
    enum ContentType implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (hasBody(ctx.request) && ctx.route.requiresJson()) {
                Optional<String> contentType = ctx.request.header("Content-Type");
                if (contentType.isPresent() && !HeaderMap.isJsonType(contentType.get())) {
                    return ctx.respond(ProxyError.unsupportedMediaType(contentType.get()));
                }
            }
            return next.proceed(ctx);
        }
    }

    /**
     * 415 for a compressed body on a route that parses it: it would read as invalid JSON, which misleads.
     * Not in the pass-through chain, which relays the encoding.
     */
    enum ContentEncoding implements RequestStep {
        STEP;

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (hasBody(ctx.request)) {
                String encoding = HeaderMap.first(ctx.request.headers(), "content-encoding");
                if (HeaderMap.isCoded(encoding)) {
                    return ctx.respond(ProxyError.unsupportedContentEncoding(encoding));
                }
            }
            return next.proceed(ctx);
        }
    }

    /**
     * 413 for a declared {@code Content-Length} over the limit ({@link BodyLimits}: an upload's is the larger), before
     * a byte of the body is read.
     */
    static final class ContentLength implements RequestStep {
        private final BodyLimits limits;

        ContentLength(BodyLimits limits) {
            this.limits = limits;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            if (hasBody(ctx.request)) {
                long max = limits.of(ctx); // an upload's, or the body limit
                if (RouteHandlers.declaredLength(ctx.request) > max) {
                    return ctx.respond(ProxyError.payloadTooLarge(max));
                }
            }
            return next.proceed(ctx);
        }
    }

    /**
     * Whether a body is JSON the proxy can read as it is: declared JSON, or not declared at all on a route that takes
     * only JSON (the SDKs' routes: such a body goes upstream as JSON all the same), and not compressed. The policy's
     * body rules, the limits' estimate and model routing read only such bodies; others stream on unread.
     */
    static boolean isReadableJson(RequestContext ctx) {
        if (isCompressed(ctx.request)) {
            return false;
        }
        // HeaderMap.first, not firstValue: that builds a stream and an Optional per look-up, on every request.
        String type = HeaderMap.first(ctx.request.headers(), "content-type");
        return type == null
                ? ctx.route != null && ctx.route.requiresJson()
                : type.toLowerCase(java.util.Locale.ROOT).contains("json");
    }

    /** Whether the body is sent with a content coding other than {@code identity} (the proxy never decodes one). */
    static boolean isCompressed(ProxyRequest request) {
        return HeaderMap.isCoded(HeaderMap.first(request.headers(), "content-encoding"));
    }

    /** Whether the request's method carries a body the proxy reads; other methods go on with none. */
    static boolean hasBody(ProxyRequest request) {
        String m = request.method();
        return m.equals("POST") || m.equals("PUT") || m.equals("PATCH");
    }
}
