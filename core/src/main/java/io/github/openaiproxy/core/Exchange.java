package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.BodyTooLargeException;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.keys.KeyResolver;
import io.github.openaiproxy.core.normalize.ImageActionDetector;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.route.RouteKind;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/** One request's way through the engine. Not shared between requests. */
final class Exchange {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final ProxyEngine engine;
    private final ProxyRequest request;
    private final ProxyObserver.Exchange observation;
    private final boolean wantsDetails;
    private volatile CompletableFuture<?> inFlight;
    private volatile boolean cancelled;
    private volatile String routeLabel = "unmatched";
    private volatile String model;
    /** Whether the upstream call carries the client's own key: a 401 is then about that key. */
    private volatile boolean clientKey;

    Exchange(ProxyEngine engine, ProxyRequest request, ProxyObserver.Exchange observation, boolean wantsDetails) {
        this.engine = engine;
        this.request = request;
        this.observation = observation;
        this.wantsDetails = wantsDetails;
    }

    /** Runs the request; the future completes with a response (or exceptionally on a bug). */
    CompletableFuture<ProxyResponse> run() {
        try {
            return dispatch();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** The client went away: abort whatever is in flight. */
    void cancel() {
        cancelled = true;
        CompletableFuture<?> call = inFlight;
        if (call != null) {
            call.cancel(true);
        }
    }

    void reportRoute() {
        observation.routed(routeLabel, Optional.ofNullable(model));
    }

    private CompletableFuture<ProxyResponse> dispatch() {
        Optional<Route> match = engine.routes.match(request.path());
        Optional<String> origin = request.header("Origin");
        CorsPolicy.Verdict verdict = engine.cors.judge(origin, request.requestOrigin());
        Map<String, String> corsHeaders =
                verdict == CorsPolicy.Verdict.ALLOWED ? engine.cors.responseHeaders(origin.orElseThrow()) : Map.of();
        ErrorStyle style = match.map(Route::errorStyle).orElse(styleForUnknown(request.path()));
        if (!engine.config().allowedHosts().allows(request)) {
            // Before anything else, and without CORS headers: nothing of the proxy for a rebound page.
            match.ifPresent(r -> routeLabel = r.template());
            return done(new ResponseFactory(style, Map.of()).error(ProxyError.hostNotAllowed()));
        }
        ResponseFactory responses = new ResponseFactory(style, corsHeaders);

        if (match.isEmpty()) {
            return done(responses.error(ProxyError.notFound(request.method(), request.path())));
        }
        Route route = match.get();
        routeLabel = route.template();
        if (request.method().equals("OPTIONS")) {
            return done(preflight(route, verdict, responses));
        }
        if (verdict == CorsPolicy.Verdict.DENIED) {
            return done(responses.error(ProxyError.originNotAllowed()));
        }
        if (!route.methods().contains(request.method())) {
            return done(responses.error(ProxyError.methodNotAllowed(request.method(), route.allowHeader())));
        }
        if (route.kind() == RouteKind.PASS_THROUGH
                && request.rawQuery().isPresent()
                && !isValidQuery(request.rawQuery().get())) {
            // The query is forwarded as written; one the upstream URI cannot carry is the client's mistake.
            return done(responses.error(ProxyError.badRequest(
                    "Invalid query string", "The query string is not validly percent-encoded", null)));
        }
        if (!request.method().equals("POST")
                && !request.method().equals("PUT")
                && !request.method().equals("PATCH")) {
            return call(route, Bodies.empty(), responses);
        }
        Optional<String> contentType = request.header("Content-Type");
        if (route.requiresJson() && contentType.isPresent() && !isJson(contentType.get())) {
            return done(responses.error(ProxyError.unsupportedMediaType(contentType.get())));
        }
        Optional<String> encoding = request.header("Content-Encoding").filter(e -> !e.isBlank());
        if (route.kind() != RouteKind.PASS_THROUGH
                && encoding.isPresent()
                && !encoding.get().strip().equalsIgnoreCase("identity")) {
            // These routes parse the body; a compressed one would read as invalid JSON, which misleads.
            return done(responses.error(ProxyError.unsupportedContentEncoding(encoding.get())));
        }
        long limit = engine.config().maxBodySize();
        Optional<Long> declaredLength = request.header("Content-Length").flatMap(Exchange::parseLength);
        if (declaredLength.isPresent() && declaredLength.get() > limit) {
            return done(responses.error(ProxyError.payloadTooLarge(limit)));
        }
        return BodyCollector.collect(request.body(), limit)
                .handle((body, error) -> {
                    if (error == null) {
                        return call(route, body, responses);
                    }
                    Throwable cause = unwrap(error);
                    if (cause instanceof BodyTooLargeException) {
                        return done(responses.error(ProxyError.payloadTooLarge(limit)));
                    }
                    // The client broke off while sending: nobody is listening, but answer cleanly.
                    LOG.log(System.Logger.Level.DEBUG, "request body could not be read: {0}", cause.toString());
                    return done(responses.error(
                            ProxyError.badRequest("Bad Request", "The request body could not be read", null)));
                })
                .thenCompose(Function.identity());
    }

    private CompletableFuture<ProxyResponse> call(Route route, byte[] body, ResponseFactory responses) {
        if (route.kind() == RouteKind.CUSTOM) {
            return custom(route, body, responses);
        }
        Normalized.Accepted normalized = null;
        ChatSessions.Ask session = new ChatSessions.Ask.None();
        byte[] upstreamBody = body;
        if (route.kind() == RouteKind.PASS_THROUGH) {
            if (wantsDetails && body.length > 0) {
                model = ModelSniffer.model(body).orElse(null);
            }
        } else {
            JsonNode json;
            try {
                json = Json.parse(body);
            } catch (IOException | RuntimeException e) {
                return done(responses.error(ProxyError.invalidJson()));
            }
            if (!(json instanceof ObjectNode object)) {
                return done(responses.error(ProxyError.notAnObject(describe(json))));
            }
            boolean isImage = route.kind() == RouteKind.IMAGE || ImageActionDetector.isImageRequest(object);
            session = engine.sessions.take(object, isImage);
            if (session instanceof ChatSessions.Ask.Rejected rejected) {
                return done(responses.error(rejected.error()));
            }
            Normalized outcome = isImage ? engine.image.normalize(object) : engine.chat.normalize(object);
            if (outcome instanceof Normalized.Rejected rejected) {
                return done(responses.error(rejected.error()));
            }
            normalized = (Normalized.Accepted) outcome;
            model = normalized.model();
            upstreamBody = Json.bytes(normalized.body());
        }
        KeyResolver.Resolution resolution = engine.keys.resolve(request.headers());
        if (resolution instanceof KeyResolver.Resolution.Refused refused) {
            return done(responses.error(refused.error()));
        }
        ApiKey key = ((KeyResolver.Resolution.Resolved) resolution).key();
        clientKey = ((KeyResolver.Resolution.Resolved) resolution).fromClient();
        if (session instanceof ChatSessions.Ask.Use use) {
            Normalized.Accepted chat = normalized;
            byte[] chatBytes = upstreamBody;
            CompletableFuture<ChatSessions.Begun> begun = engine.sessions.begin(use, chat.body());
            inFlight = begun;
            return begun.thenCompose(b -> {
                if (b instanceof ChatSessions.Begun.Failed failed) {
                    return done(responses.error(failed.error()));
                }
                ChatSessions.Begun.Ready ready = (ChatSessions.Begun.Ready) b;
                // Without history the body is the normalized one, already serialized above.
                boolean withHistory = ready.upstreamBody() != chat.body();
                byte[] bytes = withHistory ? Json.bytes(ready.upstreamBody()) : chatBytes;
                long limit = engine.config().maxBodySize();
                if (withHistory && bytes.length > limit) {
                    // The history made the body too large: the upstream gets no more than a client may send.
                    return done(responses.error(ProxyError.payloadTooLarge(limit)));
                }
                UpstreamRequest sent = engine.upstreamRequests.json(chat.upstreamPath(), bytes, chat.stream(), key);
                return send(sent, key, responses).thenCompose(answer -> engine.sessions.record(ready.turn(), answer));
            });
        }
        UpstreamRequest upstreamRequest = normalized == null
                ? engine.upstreamRequests.passThrough(
                        request.method(),
                        request.path(),
                        request.rawQuery().orElse(null),
                        request.headers(),
                        upstreamBody,
                        key)
                : engine.upstreamRequests.json(normalized.upstreamPath(), upstreamBody, normalized.stream(), key);
        return send(upstreamRequest, key, responses);
    }

    private CompletableFuture<ProxyResponse> send(
            UpstreamRequest upstreamRequest, ApiKey key, ResponseFactory responses) {
        if (cancelled) {
            return done(responses.error(ProxyError.upstreamUnreachable()));
        }
        UpstreamPermits.Ask ask = engine.permits.acquire(request.remoteAddress().orElse(null));
        if (ask instanceof UpstreamPermits.Refused refused) {
            // Answered at once, never queued: a client over its share retries, the proxy stays responsive.
            return done(responses.error(
                    refused == UpstreamPermits.Refused.TOTAL
                            ? ProxyError.overloaded()
                            : ProxyError.tooManyConcurrentCalls()));
        }
        UpstreamPermits.Permit permit = (UpstreamPermits.Permit) ask;
        long sentAt = System.nanoTime();
        CompletableFuture<UpstreamResponse> sent;
        try {
            sent = engine.upstream().send(upstreamRequest);
        } catch (RuntimeException e) {
            permit.release();
            throw e;
        }
        inFlight = sent;
        if (cancelled) {
            sent.cancel(true);
        }
        return sent.handle((response, error) -> {
                    if (error == null) {
                        observation.upstreamResponded(response.status(), Duration.ofNanos(System.nanoTime() - sentAt));
                        // Held until the client's copy of the body ends, however it ends.
                        return engine.relay
                                .relay(response, responses, key, clientKey)
                                .thenApply(permit::heldUntilDone);
                    }
                    permit.release();
                    return done(responses.error(upstreamFailure(unwrap(error))));
                })
                .thenCompose(Function.identity())
                .whenComplete((r, error) -> {
                    if (error != null) {
                        permit.release(); // a bug on the way: the engine answers 500, the permit must not leak
                    }
                });
    }

    private CompletableFuture<ProxyResponse> custom(Route route, byte[] body, ResponseFactory responses) {
        RouteCall call = new RouteCall() {
            @Override
            public ProxyRequest request() {
                return request;
            }

            @Override
            public byte[] body() {
                return body.clone();
            }

            @Override
            public CompletableFuture<ProxyResponse> dispatch(ProxyRequest sub) {
                // A module's upstream calls are made for this client: they count against its cap too.
                boolean inherit =
                        sub.remoteAddress().isEmpty() && request.remoteAddress().isPresent();
                return engine.handleSubRequest(
                        inherit ? sub.withRemoteAddress(request.remoteAddress().get()) : sub);
            }
        };
        CompletableFuture<ProxyResponse> answer = route.custom().handle(call);
        inFlight = answer;
        if (cancelled) {
            answer.cancel(true);
        }
        return answer.thenApply(r -> {
            HeaderMap h = responses.baseHeaders().addAll(r.headers());
            return new ProxyResponse(r.status(), h.build(), r.body(), r.streaming());
        });
    }

    private ProxyResponse preflight(Route route, CorsPolicy.Verdict verdict, ResponseFactory responses) {
        Optional<String> origin = request.header("Origin");
        Optional<String> method = request.header("Access-Control-Request-Method");
        if (origin.isEmpty() || method.isEmpty() || verdict == CorsPolicy.Verdict.NOT_CORS) {
            // A plain OPTIONS (or a same-origin one), not a preflight: say what the route accepts.
            HeaderMap h = responses.baseHeaders().set("Allow", route.allowHeader());
            return ResponseFactory.empty(204, h);
        }
        CorsPolicy.Preflight answer = engine.cors.preflight(
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
        return new ResponseFactory(responses.style(), Map.of()).error(ProxyError.preflightRejected(reason));
    }

    ProxyResponse internalError(Throwable error) {
        if (cancelled && unwrap(error) instanceof CancellationException) {
            // The client went away and a module route's answer was cancelled with it: nothing failed.
            LOG.log(System.Logger.Level.DEBUG, "{0}: cancelled, the client went away", request);
        } else {
            LOG.log(System.Logger.Level.ERROR, "proxy failed on " + request, error);
        }
        return new ResponseFactory(styleForUnknown(request.path()), Map.of()).error(ProxyError.internal());
    }

    private static ProxyError upstreamFailure(Throwable error) {
        if (error instanceof UpstreamFailure failure) {
            LOG.log(System.Logger.Level.WARNING, "upstream call failed: {0}", failure.getMessage());
            return failure.kind() == UpstreamFailure.Kind.TIMEOUT
                    ? ProxyError.upstreamTimeout()
                    : ProxyError.upstreamUnreachable();
        }
        if (error instanceof CancellationException) {
            return ProxyError.upstreamUnreachable();
        }
        LOG.log(System.Logger.Level.WARNING, "upstream call failed", error);
        return ProxyError.upstreamUnreachable();
    }

    private static ErrorStyle styleForUnknown(String path) {
        return path.equals("/v1") || path.startsWith("/v1/") ? ErrorStyle.OPENAI : ErrorStyle.SEED;
    }

    private static boolean isValidQuery(String rawQuery) {
        try {
            new URI("http://upstream/?" + rawQuery);
            return true;
        } catch (URISyntaxException e) {
            return false;
        }
    }

    private static boolean isJson(String contentType) {
        String mediaType = contentType.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
        return mediaType.equals("application/json")
                || (mediaType.startsWith("application/") && mediaType.endsWith("+json"));
    }

    private static Optional<Long> parseLength(String value) {
        try {
            return Optional.of(Long.parseLong(value.strip()));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static String describe(JsonNode json) {
        if (json.isArray()) {
            return "an array";
        }
        if (json.isTextual()) {
            return "a string";
        }
        if (json.isNumber()) {
            return "a number";
        }
        if (json.isBoolean()) {
            return "a boolean";
        }
        return json.isNull() ? "null" : json.getNodeType().name().toLowerCase(Locale.ROOT);
    }

    private static Throwable unwrap(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof java.util.concurrent.ExecutionException)
                && c.getCause() != null) {
            c = c.getCause();
        }
        return c;
    }

    private static <T> CompletableFuture<T> done(T value) {
        return CompletableFuture.completedFuture(value);
    }
}
