package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.BodyTooLargeException;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.internal.Responses;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.keys.KeyResolver;
import io.github.openaiproxy.core.normalize.ChatRequestNormalizer;
import io.github.openaiproxy.core.normalize.ImageActionDetector;
import io.github.openaiproxy.core.normalize.ImageRequestNormalizer;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.relay.ResponseRelay;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteKind;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/**
 * The proxy: takes a {@link ProxyRequest}, answers a {@link ProxyResponse}. Thread-safe and
 * non-blocking: {@link #handle} returns at once and completes when the upstream's response headers
 * arrive. Several engines with different configurations can live in one JVM.
 *
 * <p>Per request, in this order: route, CORS (preflight or origin check), method (405), content type
 * (415), body size (413), body validation and normalization (400), key (403/500), upstream call
 * (502/504 when it fails), relay of the answer.
 */
public final class ProxyEngine implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final ProxyConfig config;
    private final UpstreamClient upstream;
    private final boolean ownsUpstream;
    private final RouteTable routes;
    private final CorsPolicy cors;
    private final KeyResolver keys;
    private final ChatRequestNormalizer chat;
    private final ImageRequestNormalizer image;
    private final UpstreamRequests upstreamRequests;
    private final ResponseRelay relay;

    private ProxyEngine(ProxyConfig config, UpstreamClient upstream, boolean ownsUpstream) {
        this.config = config;
        this.upstream = upstream;
        this.ownsUpstream = ownsUpstream;
        this.routes = RouteTable.of(config.passThroughRoutes());
        this.cors = new CorsPolicy(config.cors());
        this.keys = new KeyResolver(config.keys());
        this.chat = new ChatRequestNormalizer(config.chatDefaults());
        this.image = new ImageRequestNormalizer(config.imageDefaults());
        this.upstreamRequests = new UpstreamRequests(config.upstream());
        this.relay = new ResponseRelay(config.maxEventSize());
    }

    /** An engine with the default upstream client (the JDK's HttpClient); {@link #close()} releases it. */
    public static ProxyEngine create(ProxyConfig config) {
        return new ProxyEngine(config, UpstreamClient.jdk(config.upstream()), true);
    }

    /** An engine on a client the caller owns (and closes). */
    public static ProxyEngine create(ProxyConfig config, UpstreamClient upstream) {
        return new ProxyEngine(config, upstream, false);
    }

    public ProxyConfig config() {
        return config;
    }

    /**
     * Whether a path (relative to the mount point) is one of the proxy's routes, whatever the method.
     * A filter hands everything else down its chain.
     */
    public boolean hasRoute(String path) {
        return routes.match(path).isPresent();
    }

    /**
     * Handles a request. The future completes with the response once its headers are known; cancel it
     * when the client goes away, and the upstream call is aborted. It never completes exceptionally
     * except by that cancellation: every failure becomes an error response.
     */
    public CompletableFuture<ProxyResponse> handle(ProxyRequest request) {
        CompletableFuture<ProxyResponse> result = new CompletableFuture<>();
        CompletableFuture<?>[] inFlight = new CompletableFuture<?>[1];
        try {
            CompletableFuture<ProxyResponse> work = dispatch(request, inFlight);
            work.whenComplete((response, error) -> {
                if (error == null) {
                    if (!result.complete(response)) {
                        io.github.openaiproxy.core.internal.Bodies.discard(response.body());
                    }
                } else {
                    result.complete(internalError(request, error));
                }
            });
        } catch (RuntimeException e) {
            result.complete(internalError(request, e));
        }
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                CompletableFuture<?> call = inFlight[0];
                if (call != null) {
                    call.cancel(true);
                }
            }
        });
        return result;
    }

    private CompletableFuture<ProxyResponse> dispatch(ProxyRequest request, CompletableFuture<?>[] inFlight) {
        Optional<Route> match = routes.match(request.path());
        Optional<String> origin = request.header("Origin");
        CorsPolicy.Verdict verdict = cors.judge(origin, request.requestOrigin());
        Map<String, String> corsHeaders =
                verdict == CorsPolicy.Verdict.ALLOWED ? cors.responseHeaders(origin.orElseThrow()) : Map.of();
        ErrorStyle style = match.map(Route::errorStyle).orElse(styleForUnknown(request.path()));
        Responses responses = new Responses(style, corsHeaders);

        if (match.isEmpty()) {
            return done(responses.error(ProxyError.notFound(request.method(), request.path())));
        }
        Route route = match.get();
        if (request.method().equals("OPTIONS")) {
            return done(preflight(request, route, verdict, responses));
        }
        if (verdict == CorsPolicy.Verdict.DENIED) {
            return done(responses.error(ProxyError.originNotAllowed()));
        }
        if (!route.methods().contains(request.method())) {
            return done(responses.error(ProxyError.methodNotAllowed(request.method(), route.allowHeader())));
        }
        if (!request.method().equals("POST")) {
            return call(request, route, io.github.openaiproxy.core.internal.Bodies.empty(), responses, inFlight);
        }
        Optional<String> contentType = request.header("Content-Type");
        if (route.requiresJson() && contentType.isPresent() && !isJson(contentType.get())) {
            return done(responses.error(ProxyError.unsupportedMediaType(contentType.get())));
        }
        Optional<Long> declaredLength = request.header("Content-Length").flatMap(ProxyEngine::parseLength);
        if (declaredLength.isPresent() && declaredLength.get() > config.maxBodySize()) {
            return done(responses.error(ProxyError.payloadTooLarge(config.maxBodySize())));
        }
        return BodyCollector.collect(request.body(), config.maxBodySize())
                .handle((body, error) -> {
                    if (error == null) {
                        return call(request, route, body, responses, inFlight);
                    }
                    Throwable cause = unwrap(error);
                    if (cause instanceof BodyTooLargeException) {
                        return done(responses.error(ProxyError.payloadTooLarge(config.maxBodySize())));
                    }
                    // The client broke off while sending: nobody is listening, but answer cleanly.
                    LOG.log(System.Logger.Level.DEBUG, "request body could not be read: {0}", cause.toString());
                    return done(responses.error(
                            ProxyError.badRequest("Bad Request", "The request body could not be read", null)));
                })
                .thenCompose(Function.identity());
    }

    private CompletableFuture<ProxyResponse> call(
            ProxyRequest request, Route route, byte[] body, Responses responses, CompletableFuture<?>[] inFlight) {
        Prepared prepared;
        if (route.kind() == RouteKind.PASS_THROUGH) {
            prepared = new Prepared(null, body);
        } else {
            Normalized normalized = normalize(route, body);
            if (normalized instanceof Normalized.Rejected rejected) {
                return done(responses.error(rejected.error()));
            }
            Normalized.Accepted accepted = (Normalized.Accepted) normalized;
            prepared = new Prepared(accepted, Json.bytes(accepted.body()));
        }
        KeyResolver.Resolution resolution = keys.resolve(request.headers());
        if (resolution instanceof KeyResolver.Resolution.Refused refused) {
            return done(responses.error(refused.error()));
        }
        ApiKey key = ((KeyResolver.Resolution.Resolved) resolution).key();
        UpstreamRequest upstreamRequest = prepared.normalized() == null
                ? upstreamRequests.passThrough(
                        request.method(),
                        request.path(),
                        request.rawQuery().orElse(null),
                        request.headers(),
                        prepared.body(),
                        key)
                : upstreamRequests.json(
                        prepared.normalized().upstreamPath(), prepared.body(), prepared.normalized().stream(), key);
        CompletableFuture<UpstreamResponse> sent = upstream.send(upstreamRequest);
        inFlight[0] = sent;
        return sent.handle((response, error) -> {
                    if (error == null) {
                        return relay.relay(response, responses, key);
                    }
                    return done(responses.error(upstreamFailure(unwrap(error))));
                })
                .thenCompose(Function.identity());
    }

    private record Prepared(Normalized.Accepted normalized, byte[] body) {}

    private Normalized normalize(Route route, byte[] body) {
        JsonNode json;
        try {
            json = Json.parse(body);
        } catch (IOException | RuntimeException e) {
            return new Normalized.Rejected(ProxyError.invalidJson());
        }
        if (!(json instanceof ObjectNode object)) {
            return new Normalized.Rejected(ProxyError.notAnObject(describe(json)));
        }
        boolean isImage = route.kind() == RouteKind.IMAGE || ImageActionDetector.isImageRequest(object);
        return isImage ? image.normalize(object) : chat.normalize(object);
    }

    private ProxyResponse preflight(
            ProxyRequest request, Route route, CorsPolicy.Verdict verdict, Responses responses) {
        Optional<String> origin = request.header("Origin");
        Optional<String> method = request.header("Access-Control-Request-Method");
        if (origin.isEmpty() || method.isEmpty()) {
            // A plain OPTIONS, not a preflight: say what the route accepts.
            HeaderMap h = responses.baseHeaders().set("Allow", route.allowHeader());
            return Responses.empty(204, h);
        }
        if (verdict == CorsPolicy.Verdict.NOT_CORS) {
            HeaderMap h = responses.baseHeaders().set("Allow", route.allowHeader());
            return Responses.empty(204, h);
        }
        CorsPolicy.Preflight answer = cors.preflight(
                origin.get(),
                method.get(),
                String.join(",", request.headers().allValues("Access-Control-Request-Headers")),
                route.methods());
        if (answer instanceof CorsPolicy.Preflight.Accepted accepted) {
            HeaderMap h = new HeaderMap().set("Vary", CorsPolicy.vary()).setAll(accepted.headers());
            return Responses.empty(204, h);
        }
        String reason = ((CorsPolicy.Preflight.Rejected) answer).reason();
        LOG.log(System.Logger.Level.DEBUG, "preflight from {0} rejected: {1}", origin.get(), reason);
        return new Responses(responses.style(), Map.of()).error(ProxyError.preflightRejected(reason));
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

    private ProxyResponse internalError(ProxyRequest request, Throwable error) {
        LOG.log(System.Logger.Level.ERROR, "proxy failed on " + request, error);
        return new Responses(styleForUnknown(request.path()), Map.of()).error(ProxyError.internal());
    }

    private static ErrorStyle styleForUnknown(String path) {
        return path.equals("/v1") || path.startsWith("/v1/") ? ErrorStyle.OPENAI : ErrorStyle.SEED;
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

    /** Closes the upstream client if this engine created it. */
    @Override
    public void close() {
        if (ownsUpstream) {
            upstream.close();
        }
    }
}
