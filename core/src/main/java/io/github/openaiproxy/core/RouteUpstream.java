package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.core.upstream.CircuitBreaker;
import io.github.openaiproxy.core.upstream.KeyPool;
import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.NamedUpstreamRequests;
import io.github.openaiproxy.core.upstream.Upstreams;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

/**
 * Routes a pass-through request to a named upstream by its model (only in the chain when upstreams are
 * configured, so a proxy without them runs exactly as before). A JSON body is read whole (bounded by
 * {@code max-body-size}) to find its model: the first upstream with an alias of it, else one that names it,
 * else one whose glob matches it, else the default upstream ({@value Upstreams#DEFAULT}). An alias renames the
 * model in the body, which is then serialized again; an unrenamed body goes on as the client sent it. A multipart
 * upload is routed the same way by a {@code model} field before its first file part, read from at most its first
 * {@value HeldBody#BOUND} bytes (see {@link HeldBody}); it streams on either way. When some rule routes by model, one
 * whose model follows its file is read on to it, spooled (see {@link UploadSpool}). Other bodies (binary uploads,
 * compressed bodies) and body-less requests go to the default upstream (a compressed body read whole when it is a
 * configured one; an upload streams there, see {@link UpstreamAttempts}), except
 * {@code GET /v1/models}, answered here with the configured models of every upstream, and
 * {@code GET} / {@code DELETE /v1/models/{id}}, routed by the model id in the path (see {@link #routeModelPath}).
 *
 * <p>The simple routes ({@code POST /}, image generation) run this step too, after their body is normalized: the
 * normalized model picks the upstream the same way, and {@link UpstreamAttempts} renames the model in the body
 * the upstream gets when it sends it (the session step may still add history to that body).
 */
final class RouteUpstream implements RequestStep {
    /** The response header naming the upstream that served: its configured name, never a URL or key. */
    static final String UPSTREAM_HEADER = "OpenAI-Proxy-Upstream";

    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final Upstreams upstreams;
    private final Map<String, NamedUpstreamRequests> requests;
    private final Map<String, KeyPool> pools;
    private final Map<String, CircuitBreaker> breakers;
    private final long limit;

    /** Where uploads whose model follows their file are spooled; {@code null} when no rule routes by model. */
    private final HeldBody.Spooling spooling;

    private final long uploadLimit;

    /**
     * Where a routed request goes.
     *
     * @param requests the upstream's request builder
     * @param pool the upstream's keys
     * @param upstreamModel the model asked of the upstream (after its aliases; Azure's deployment)
     * @param clientModel the model the client asked for
     * @param clientBytes the body as the client sent it (a fallback renames its model again); {@code null} on
     *     a simple route, whose body is {@code ctx.upstreamBody}
     * @param clientJson that body parsed, or {@code null} when it is no JSON object (or on a simple route)
     * @param mayAskForUsage whether a stream may be asked for its usage: no attempt meets an upstream that
     *     refuses {@code stream_options}
     * @param modelInPath whether the model is the path's ({@code /v1/models/{id}}), not the body's: each attempt asks
     *     for its model there, and an answer's {@code id} is the client's name again
     */
    record Target(
            NamedUpstreamRequests requests,
            KeyPool pool,
            String upstreamModel,
            String clientModel,
            byte[] clientBytes,
            ObjectNode clientJson,
            boolean mayAskForUsage,
            boolean modelInPath) {
        /** A target whose model is the body's. */
        Target(
                NamedUpstreamRequests requests,
                KeyPool pool,
                String upstreamModel,
                String clientModel,
                byte[] clientBytes,
                ObjectNode clientJson,
                boolean mayAskForUsage) {
            this(requests, pool, upstreamModel, clientModel, clientBytes, clientJson, mayAskForUsage, false);
        }

        NamedUpstream upstream() {
            return requests.upstream();
        }

        /** Whether an alias renamed the model, so that answers echo the client's name again. */
        boolean renamed() {
            return clientModel != null && !upstreamModel.equals(clientModel);
        }
    }

    RouteUpstream(Upstreams upstreams, long limit) {
        this(upstreams, limit, System::nanoTime);
    }

    /** As above, with the monotonic time the circuit breakers run on ({@link System#nanoTime()} but in tests). */
    RouteUpstream(Upstreams upstreams, long limit, LongSupplier nanoTime) {
        this(upstreams, limit, nanoTime, null, limit);
    }

    /**
     * As above, with the spool of uploads whose model comes after their file ({@code null}: none is spooled) and
     * {@code max-upload-size}, which bounds what is spooled.
     */
    RouteUpstream(Upstreams upstreams, long limit, LongSupplier nanoTime, UploadSpool spool, long uploadLimit) {
        this.upstreams = upstreams;
        this.limit = limit;
        this.uploadLimit = uploadLimit;
        // Only when some rule could send a model elsewhere than the default (or rename it) is reading on worth it.
        boolean byModel = upstreams.all().stream()
                .anyMatch(u -> !u.aliases().isEmpty() || !u.models().isEmpty());
        this.spooling = spool != null && spool.enabled() && byModel ? new HeldBody.Spooling(spool, uploadLimit) : null;
        Map<String, NamedUpstreamRequests> byName = new LinkedHashMap<>();
        Map<String, KeyPool> keys = new LinkedHashMap<>();
        Map<String, CircuitBreaker> circuits = new LinkedHashMap<>();
        for (NamedUpstream u : upstreams.all()) {
            byName.put(u.name(), new NamedUpstreamRequests(u));
            keys.put(u.name(), new KeyPool(u));
            circuits.put(
                    u.name(),
                    new CircuitBreaker(
                            u.name(), u.retry().breakerFailures(), u.retry().breakerOpen(), nanoTime));
        }
        this.requests = Map.copyOf(byName);
        this.pools = Map.copyOf(keys);
        this.breakers = Map.copyOf(circuits);
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        io.github.openaiproxy.core.normalize.Normalized.Accepted normalized = ctx.normalized;
        if (normalized != null) {
            return routeSimple(ctx, next, normalized);
        }
        String path = ctx.request.path();
        String method = ctx.request.method();
        if (path.equals("/v1/models") && (method.equals("GET") || method.equals("HEAD"))) {
            return CompletableFuture.completedFuture(models(ctx.responses(), ctx.policy));
        }
        if (ctx.route != null && ctx.route.template().equals(RouteTable.MODEL_TEMPLATE) && modelFromPath(method)) {
            Optional<String> id = RouteTable.modelId(path);
            if (id.isPresent()) {
                return routeModelPath(ctx, next, id.get());
            }
        }
        if (ctx.body != null) {
            return route(ctx, next, ctx.body); // the authorize step read it for its policy
        }
        if (!RequestChecks.hasBody(ctx.request)) {
            return route(ctx, next, io.github.openaiproxy.core.internal.Bodies.empty());
        }
        if (!RequestChecks.isReadableJson(ctx)) {
            if (BodyLimits.isUpload(ctx)) {
                return routeUpload(ctx, next);
            }
            if (upstreams.get(Upstreams.DEFAULT).isEmpty()) {
                return next.proceed(ctx); // compressed: streamed to the default upstream, unread
            }
        }
        // A configured default upstream replaces api-key / base-url for unreadable bodies too: a compressed body is
        // read whole (bounded), so that retries and fallbacks can send it again (no model is found in it).
        return RouteHandlers.readWhole(ctx, limit, bytes -> route(ctx, next, bytes));
    }

    /**
     * An upload (multipart, binary): never read whole, it streams to its upstream counted against {@code
     * max-upload-size}. A {@code multipart/form-data} body is read up to its {@code model} field, its first file part
     * or {@link HeldBody#BOUND}, whichever comes first, and routed by that model as a JSON body is; without one before
     * the file (openai-java sends the file first) it is read on, spooled, to the model after it when some rule routes
     * by model (within {@code max-upload-spool-size}), else it goes to the default upstream. Any other upload to a configured
     * default upstream has its first piece held, so that a call refused before reading more can go to the next
     * attempt; to the default of api-key / base-url it streams unread.
     */
    private CompletableFuture<ProxyResponse> routeUpload(RequestContext ctx, Chain next) {
        String type = io.github.openaiproxy.core.internal.HeaderMap.first(ctx.request.headers(), "content-type");
        Optional<MultipartModel> form = MultipartModel.of(type);
        if (form.isEmpty() && MultipartModel.isFormData(type)) {
            // No boundary: no server can read its parts, nor can the proxy find its model.
            return ctx.respond(ProxyError.badRequest(
                    "Bad Request", "A multipart/form-data body needs a boundary in its Content-Type", null));
        }
        if (form.isEmpty() && upstreams.get(Upstreams.DEFAULT).isEmpty()) {
            return next.proceed(ctx); // streamed unread to the default upstream of api-key / base-url
        }
        HeldBody.Scan scan = form.<HeldBody.Scan>map(
                        f -> (bytes, length) -> !(f.scan(bytes, length) instanceof MultipartModel.More))
                .orElse(HeldBody.Scan.FIRST_PIECE);
        return HeldBody.hold(
                        ctx.request.body(), scan, form.isPresent() ? spooling : null, form.orElse(null), ctx.request)
                .handle((held, error) -> {
                    if (error != null) {
                        return RouteHandlers.unreadable(ctx, error, uploadLimit);
                    }
                    ctx.held = held;
                    if (form.isPresent()
                            && held.model() == null
                            && form.get().scan(held.bytes(), held.length()) instanceof MultipartModel.Found found) {
                        held.foundModel(found);
                    }
                    if (!held.spooled()) {
                        return routeHeld(ctx, next, held.model());
                    }
                    // The spool file lives as long as the call: its attempts (retries, fallbacks) read it again.
                    CompletableFuture<ProxyResponse> routed;
                    try {
                        routed = routeHeld(ctx, next, held.model());
                    } catch (RuntimeException e) {
                        held.release();
                        throw e;
                    }
                    return routed.whenComplete((r, e) -> held.release());
                })
                .thenCompose(java.util.function.Function.identity());
    }

    /** An upload whose first bytes are held ({@code ctx.held}), routed by the model they name, if any. */
    private CompletableFuture<ProxyResponse> routeHeld(RequestContext ctx, Chain next, String model) {
        NamedUpstream upstream = upstreamFor(model);
        if (upstream == null) {
            return next.proceed(ctx); // the default upstream of api-key / base-url: streamed, held bytes first
        }
        String upstreamModel = model == null ? null : upstream.upstreamModel(model);
        NamedUpstreamRequests builder = requests.get(upstream.name());
        if (!builder.serves(ctx.request.path(), upstreamModel)) {
            return ctx.respond(unserved());
        }
        if (model != null) {
            ctx.model = model;
        }
        // The target's bytes are empty: UpstreamAttempts sends ctx.streamed, the held bytes renamed per attempt.
        ctx.target = target(
                upstream, builder, upstreamModel, model, io.github.openaiproxy.core.internal.Bodies.empty(), null);
        return next.proceed(ctx); // ctx.body stays null: the pass-through step streams the body
    }

    private CompletableFuture<ProxyResponse> route(RequestContext ctx, Chain next, byte[] bytes) {
        ctx.body = bytes; // sent as read (the pass-through step streams nothing once it is set)
        ObjectNode object = null;
        String model = null;
        if (bytes.length > 0) {
            try {
                if (Json.parse(bytes) instanceof ObjectNode o) {
                    object = o;
                    JsonNode m = o.get("model");
                    model = m != null && m.isTextual() ? m.textValue() : null;
                }
            } catch (IOException | RuntimeException e) {
                // Not JSON after all: the default upstream judges it, as before.
            }
        }
        NamedUpstream upstream = upstreamFor(model);
        if (upstream == null) {
            return next.proceed(ctx); // the default upstream of api-key / base-url
        }
        String upstreamModel = model == null ? null : upstream.upstreamModel(model);
        NamedUpstreamRequests builder = requests.get(upstream.name());
        if (!builder.serves(ctx.request.path(), upstreamModel)) {
            return ctx.respond(unserved());
        }
        if (model != null) {
            ctx.model = model;
            if (!upstreamModel.equals(model)) {
                ObjectNode renamed = object.deepCopy(); // the client's stays, for a fallback's own rename
                renamed.put("model", upstreamModel);
                ctx.body = Json.bytes(renamed); // serialized again only when an alias renamed the model
            }
        }
        ctx.target = target(upstream, builder, upstreamModel, model, bytes, object);
        return next.proceed(ctx);
    }

    /**
     * Whether a {@value RouteTable#MODEL_TEMPLATE} call in {@code method} is routed by the id in its path (a retrieve,
     * a delete); another method added to the route is routed by its body's model, as on any route.
     */
    static boolean modelFromPath(String method) {
        return method.equals("GET") || method.equals("HEAD") || method.equals("DELETE");
    }

    /**
     * A model retrieve (or delete) is routed by the model id in its path, as a body's model is: the client's name of an
     * alias goes upstream as the upstream's name, and the answer's {@code id} comes back as the client's. An Azure
     * upstream in its deployments form knows deployments, not models by the names the proxy lists: a listed name is
     * answered with the list's entry, any other id goes to Azure's {@code /openai/models/<id>}. A body, if a client
     * sends one, is read whole (bounded) and sent as read.
     */
    private CompletableFuture<ProxyResponse> routeModelPath(RequestContext ctx, Chain next, String id) {
        NamedUpstream upstream = upstreamFor(id);
        if (upstream == null) {
            return next.proceed(ctx); // the default upstream of api-key / base-url, as before
        }
        NamedUpstreamRequests builder = requests.get(upstream.name());
        String upstreamModel = upstream.upstreamModel(id);
        if (ctx.request.method().equals("GET") && !builder.retrievesModelsByListedName()) {
            ObjectNode listed = listed(id);
            if (listed != null) {
                return CompletableFuture.completedFuture(json(ctx.responses(), listed));
            }
        }
        Optional<String> upstreamPath = RouteTable.modelPath(upstreamModel);
        if (upstreamPath.isEmpty() || !builder.serves(upstreamPath.get(), upstreamModel)) {
            return ctx.respond(unserved());
        }
        if (ctx.body == null && RequestChecks.hasBody(ctx.request)) {
            return RouteHandlers.readWhole(ctx, limit, bytes -> {
                ctx.body = bytes;
                return routeModelPath(ctx, next, id);
            });
        }
        byte[] bytes = ctx.body != null ? ctx.body : io.github.openaiproxy.core.internal.Bodies.empty();
        ctx.body = bytes;
        ctx.target = new Target(
                builder,
                pools.get(upstream.name()),
                upstreamModel,
                id,
                bytes,
                null,
                upstreams.mayAskForStreamUsage(upstream.name()),
                true);
        return next.proceed(ctx);
    }

    private Target target(
            NamedUpstream upstream,
            NamedUpstreamRequests builder,
            String upstreamModel,
            String model,
            byte[] bytes,
            ObjectNode object) {
        return new Target(
                builder,
                pools.get(upstream.name()),
                upstreamModel,
                model,
                bytes,
                object,
                upstreams.mayAskForStreamUsage(upstream.name()));
    }

    /**
     * A simple route's request, routed by its normalized model. The target holds no body: the one sent is
     * {@code ctx.upstreamBody} as the later steps leave it (limits, sessions), renamed per attempt.
     */
    private CompletableFuture<ProxyResponse> routeSimple(
            RequestContext ctx, Chain next, io.github.openaiproxy.core.normalize.Normalized.Accepted normalized) {
        String model = normalized.model();
        NamedUpstream upstream = upstreamFor(model);
        if (upstream == null) {
            return next.proceed(ctx); // the default upstream of api-key / base-url, as without named upstreams
        }
        String upstreamModel = model == null ? null : upstream.upstreamModel(model);
        NamedUpstreamRequests builder = requests.get(upstream.name());
        if (!builder.serves(normalized.upstreamPath(), upstreamModel)) {
            return ctx.respond(unserved());
        }
        ctx.target = target(upstream, builder, upstreamModel, model, null, null);
        return next.proceed(ctx);
    }

    /**
     * The upstream a model is routed to (the one routing rule of every route): an alias of it, else a name,
     * else a glob, else the configured default ({@value Upstreams#DEFAULT}); {@code null} for the implicit
     * default of api-key / base-url.
     */
    NamedUpstream upstreamFor(String model) {
        Optional<NamedUpstream> routed = upstreams.route(model);
        return routed.isPresent()
                ? routed.get()
                : upstreams.get(Upstreams.DEFAULT).orElse(null);
    }

    /** The routed upstream does not serve the operation for the model (an Azure deployment's operations). */
    private static ProxyError unserved() {
        return new ProxyError(
                404,
                "Not Found",
                "This operation is not available for the requested model",
                "invalid_request_error",
                "unknown_url",
                null,
                null,
                Map.of());
    }

    /** The configured upstreams, for the fallback chains. */
    Upstreams upstreams() {
        return upstreams;
    }

    /** The request builder and keys of a named upstream; {@code null} for the implicit default. */
    NamedUpstreamRequests requests(String name) {
        return requests.get(name);
    }

    /** The keys of a named upstream; {@code null} for the implicit default. */
    KeyPool pool(String name) {
        return pools.get(name);
    }

    /** Each named upstream's keys taken out and circuit, in configuration order. */
    java.util.List<io.github.openaiproxy.core.upstream.UpstreamState> states() {
        java.util.List<io.github.openaiproxy.core.upstream.UpstreamState> out = new java.util.ArrayList<>();
        for (NamedUpstream u : upstreams.all()) {
            out.add(io.github.openaiproxy.core.upstream.UpstreamState.of(
                    u, pools.get(u.name()), breakers.get(u.name())));
        }
        return java.util.List.copyOf(out);
    }

    /** The circuit breaker of a named upstream; {@code null} for the implicit default. */
    CircuitBreaker breaker(String name) {
        return breakers.get(name);
    }

    /**
     * The named upstreams' models in OpenAI's list shape: each configured model once, owned by the upstream that serves
     * it; under a policy with a {@code models} rule only those it allows, the ones a retrieve of would not be refused.
     */
    private ProxyResponse models(ResponseFactory responses, io.github.openaiproxy.core.access.Policy policy) {
        List<String> allowed = policy == null ? List.of() : policy.models();
        ObjectNode list = Json.object();
        list.put("object", "list");
        ArrayNode data = list.putArray("data");
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (NamedUpstream u : upstreams.all()) {
            for (String id : upstreams.listedModels()) {
                if ((allowed.isEmpty() || AuthorizeStep.matchesAny(allowed, id))
                        && u.serves(id)
                        && upstreams.route(id).map(r -> r == u).orElse(false)
                        && seen.add(id)) {
                    data.add(model(id, u));
                }
            }
        }
        return json(responses, list);
    }

    /** The entry {@link #models} lists for {@code id}, or {@code null} when it lists none. */
    private ObjectNode listed(String id) {
        if (!upstreams.listedModels().contains(id)) {
            return null;
        }
        Optional<NamedUpstream> u = upstreams.route(id);
        return u.isPresent() && u.get().serves(id) ? model(id, u.get()) : null;
    }

    private static ObjectNode model(String id, NamedUpstream u) {
        ObjectNode m = Json.object();
        m.put("id", id);
        m.put("object", "model");
        m.put("created", 0);
        m.put("owned_by", u.name());
        return m;
    }

    private static ProxyResponse json(ResponseFactory responses, ObjectNode value) {
        byte[] body = Json.bytes(value);
        HeaderMap h = responses.baseHeaders();
        h.set("Content-Type", ResponseFactory.JSON).set("Content-Length", Integer.toString(body.length));
        return ProxyResponse.of(200, h.build(), body);
    }
}
