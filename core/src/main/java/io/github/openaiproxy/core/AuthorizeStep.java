package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Glob;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.route.Route;
import io.github.openaiproxy.core.route.RouteTable;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Applies the identity's {@link Policy}: the routes it may call (403 {@code route_not_allowed}), the models
 * it may use (403 {@code model_not_allowed}) and the caps on what it may ask for ({@code max_tokens},
 * {@code n}, image size and quality: lowered, or 400, per the policy's {@code over-cap}). Nothing refused
 * reaches the upstream. A model retrieve or delete is judged by the model id in its path.
 *
 * <p>The simple routes' body is checked as normalized, before it is serialized for the upstream. A
 * pass-through body streams to the upstream unread, unless the policy has a rule on bodies: then it is read
 * here (within the body limit: 413), checked as JSON, and sent as read, or rewritten when a cap lowered a
 * value. A module route (GraphQL) is checked by its route only; its sub-requests run this step themselves.
 */
final class AuthorizeStep implements RequestStep {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final PolicyLookup policies;
    private final long limit;
    /** Each route's name for the {@code routes} rule, computed once (see {@link #nameOf(Route)}). */
    private final Map<Route, String> names = new IdentityHashMap<>();

    AuthorizeStep(PolicyLookup policies, RouteTable routes, long limit) {
        this.policies = policies;
        this.limit = limit;
        for (Route r : routes.routes()) {
            names.put(r, nameOf(r));
        }
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        Identity identity = ctx.identity;
        String name = identity == null ? Policy.ANONYMOUS : identity.policy();
        Policy policy = policies.configured(name);
        if (policy != null) {
            return apply(ctx, next, policy);
        }
        // Not tracked for cancellation: the load is shared with other requests for the same policy.
        return policies.stored(name)
                .handle((found, error) -> {
                    if (error != null) {
                        LOG.log(System.Logger.Level.WARNING, "policy store failed: {0}", error.toString());
                        return ctx.respond(policyUnavailable());
                    }
                    if (found.isEmpty()) {
                        policies.logUnknown(name);
                        ProxyError unknown = unknownPolicy();
                        return ctx.refuse(unknown, unknown.code(), name);
                    }
                    return apply(ctx, next, found.get());
                })
                .thenCompose(Function.identity());
    }

    private CompletableFuture<ProxyResponse> apply(RequestContext ctx, Chain next, Policy policy) {
        ctx.policy = policy; // the limit step counts its quotas
        Route route = ctx.route;
        boolean modelRoute = route != null && route.template().equals(RouteTable.MODEL_TEMPLATE);
        // A retrieve or delete names its model in the path; another method added to the route, in its body.
        boolean modelInPath = modelRoute && RouteUpstream.modelFromPath(ctx.request.method());
        boolean bodyRules = hasBodyRules(policy);
        if (!bodyRules && policy.routes().isEmpty()) {
            if (modelInPath) {
                RouteTable.modelId(ctx.request.path()).ifPresent(id -> ctx.model = id); // else the body's, later
            }
            return next.proceed(ctx); // the hot path (the default policies): nothing to check, read or change
        }
        String routeName = routeName(ctx);
        if (!policy.routes().isEmpty() && !allowed(policy.routes(), routeName, route.template())) {
            ProxyError refused = routeNotAllowed();
            return ctx.refuse(refused, refused.code(), policy.name());
        }
        if (modelInPath) {
            return modelPath(ctx, next, policy);
        }
        if (modelRoute && !pathAllowed(policy, RouteTable.modelId(ctx.request.path()))) {
            // Another method added to the route is routed by its body's model, judged below: both must pass.
            ProxyError refused = modelNotAllowed();
            return ctx.refuse(refused, refused.code(), policy.name());
        }
        if (!bodyRules) {
            return next.proceed(ctx);
        }
        return switch (route.kind()) {
            case CHAT_OR_IMAGE, IMAGE -> simple(ctx, next, policy, routeName);
            case PASS_THROUGH -> passThrough(ctx, next, policy, routeName);
            case CUSTOM -> next.proceed(ctx);
        };
    }

    /**
     * A model retrieve or delete ({@value RouteTable#MODEL_TEMPLATE}) names its model in the path: the {@code models}
     * rule judges that id as it judges a body's {@code model}, and the refusal is the same whether the model exists or
     * not (nothing reaches the upstream). A body, if any, names nothing to generate: the caps do not apply to it.
     */
    private static CompletableFuture<ProxyResponse> modelPath(RequestContext ctx, Chain next, Policy policy) {
        java.util.Optional<String> id = RouteTable.modelId(ctx.request.path());
        if (!pathAllowed(policy, id)) {
            ProxyError refused = modelNotAllowed();
            return ctx.refuse(refused, refused.code(), policy.name());
        }
        id.ifPresent(m -> ctx.model = m); // the ledger's and the observers' model, as a body's would be
        return next.proceed(ctx);
    }

    /** Whether the {@code models} rule allows the id of a {@value RouteTable#MODEL_TEMPLATE} path (empty: not one). */
    private static boolean pathAllowed(Policy policy, java.util.Optional<String> id) {
        return policy.models().isEmpty() || (id.isPresent() && matchesAny(policy.models(), id.get()));
    }

    /** The normalized body, changed in place; serialized again only when a cap changed it. */
    private static CompletableFuture<ProxyResponse> simple(
            RequestContext ctx, Chain next, Policy policy, String routeName) {
        ObjectNode body = ctx.normalized.body();
        Check check = check(policy, body, ctx.clientBody != null ? ctx.clientBody : body, routeName, false);
        if (check.error != null) {
            return ctx.refuse(check.error, check.error.code(), policy.name());
        }
        if (check.changed) {
            ctx.upstreamBody = Json.bytes(body);
        }
        return next.proceed(ctx);
    }

    /** Reads the pass-through body whole, checks it and keeps it (as read, or rewritten) for the upstream. */
    private CompletableFuture<ProxyResponse> passThrough(
            RequestContext ctx, Chain next, Policy policy, String routeName) {
        if (!RequestChecks.hasBody(ctx.request)) {
            return next.proceed(ctx); // no body (GET /v1/models): nothing a body rule could judge
        }
        if (storedObject(ctx.route.template())) {
            // Updating a stored completion's metadata, cancelling a response: nothing generated, no model named.
            return next.proceed(ctx);
        }
        // A body declared empty is read all the same (cheap when it is): the check judges the bytes sent on,
        // never what a header says about them.
        boolean declaredEmpty = RouteHandlers.declaredLength(ctx.request) == 0;
        if (!declaredEmpty && !RequestChecks.isReadableJson(ctx)) {
            return ctx.respond(uncheckable());
        }
        return RouteHandlers.readWhole(ctx, limit, bytes -> {
            if (bytes.length == 0) {
                ctx.body = bytes;
                return next.proceed(ctx); // an empty body: nothing a body rule could judge
            }
            if (declaredEmpty && !RequestChecks.isReadableJson(ctx)) {
                return ctx.respond(uncheckable());
            }
            JsonNode json;
            try {
                json = Json.parse(bytes);
            } catch (IOException | RuntimeException e) {
                return ctx.respond(ProxyError.invalidJson());
            }
            if (!(json instanceof ObjectNode object)) {
                return ctx.respond(ProxyError.notAnObject(
                        json.isArray()
                                ? "an array"
                                : "a " + json.getNodeType().name().toLowerCase(Locale.ROOT)));
            }
            Check check = check(policy, object, object, routeName, true);
            if (check.error != null) {
                return ctx.refuse(check.error, check.error.code(), policy.name());
            }
            JsonNode model = object.get("model");
            if (model != null && model.isTextual()) {
                ctx.model = model.textValue();
            }
            // The pass-through step sends a body read here as it is, instead of streaming the request's.
            ctx.body = check.changed ? Json.bytes(object) : bytes;
            return next.proceed(ctx);
        });
    }

    /** The rules cannot be checked, so the request is refused (fails closed). */
    private static ProxyError uncheckable() {
        return ProxyError.badRequest(
                "Bad Request",
                "This caller's policy checks request bodies; only uncompressed JSON bodies can be checked",
                null);
    }

    /** What checking a body found: a refusal, or whether a value was lowered or added. */
    private static final class Check {
        ProxyError error;
        boolean changed;

        Check refuse(ProxyError e) {
            error = e;
            return this;
        }
    }

    /**
     * Checks a body against the policy's model and cap rules, lowering (or adding) capped values in place.
     * Only what the client sent is refused: a value the proxy's defaults put there is lowered (or replaced by
     * the rule's first value) whatever the policy's {@code over-cap}.
     *
     * @param client the body as the client sent it, to tell its values from the proxy's defaults
     * @param routeName the route's name: {@code chat}, {@code images}, {@code responses}, ...
     * @param passThrough whether the body is the client's own (a missing image size or quality then gets the
     *     rule's first value; a normalized body already has the proxy's defaults)
     */
    static Check check(Policy policy, ObjectNode body, ObjectNode client, String routeName, boolean passThrough) {
        Check c = new Check();
        boolean images = routeName.equals("images");
        List<String> models = images ? policy.imageModels() : policy.models();
        if (!models.isEmpty()) {
            JsonNode m = body.get("model");
            // A missing model is checked as it is: no rule can allow it.
            if (m == null || !m.isTextual() || !matchesAny(models, m.textValue())) {
                return c.refuse(modelNotAllowed());
            }
        }
        Integer maxTokens = policy.maxTokens();
        if (maxTokens != null) {
            switch (routeName) {
                case "chat" -> {
                    boolean any = capPresent(c, policy, body, client, "max_tokens", maxTokens);
                    any |= capPresent(c, policy, body, client, "max_completion_tokens", maxTokens);
                    if (c.error != null) {
                        return c;
                    }
                    if (!any) {
                        // The simple routes' normalized bodies use max_tokens; /v1 callers get the field
                        // OpenAI documents for chat (reasoning models refuse max_tokens).
                        body.put(passThrough ? "max_completion_tokens" : "max_tokens", maxTokens);
                        c.changed = true;
                    }
                }
                case "responses" -> capOrAdd(c, policy, body, client, "max_output_tokens", maxTokens);
                case "completions" -> capOrAdd(c, policy, body, client, "max_tokens", maxTokens);
                default -> {
                    // Embeddings, images, ...: no completion tokens to cap.
                }
            }
            if (c.error != null) {
                return c;
            }
        }
        Integer maxN = policy.maxN();
        if (maxN != null && (images || routeName.equals("chat") || routeName.equals("completions"))) {
            capPresent(c, policy, body, client, "n", maxN);
            if (c.error != null) {
                return c;
            }
        }
        if (images) {
            oneOf(c, body, client, "size", policy.imageSizes(), passThrough);
            if (c.error == null) {
                oneOf(c, body, client, "quality", policy.imageQualities(), passThrough);
            }
        }
        return c;
    }

    /** Caps a field when present; whether it was present. {@code null} counts as absent (it means no limit). */
    private static boolean capPresent(
            Check c, Policy policy, ObjectNode body, ObjectNode client, String field, int cap) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isNumber()) {
            c.refuse(ProxyError.badRequest("Invalid request", field + " must be a number", field));
            return true;
        }
        if (v.isIntegralNumber()
                ? v.bigIntegerValue().compareTo(java.math.BigInteger.valueOf(cap)) > 0
                : v.doubleValue() > cap) {
            if (policy.overCap() == Policy.OverCap.REFUSE && client.hasNonNull(field)) {
                c.refuse(overCap(field, cap));
            } else {
                body.put(field, cap);
                c.changed = true;
            }
        }
        return true;
    }

    private static void capOrAdd(Check c, Policy policy, ObjectNode body, ObjectNode client, String field, int cap) {
        if (!capPresent(c, policy, body, client, field, cap)) {
            body.put(field, cap);
            c.changed = true;
        }
    }

    /** An image size or quality must be one the rule lists; a missing one in a client's body gets the first. */
    private static void oneOf(
            Check c, ObjectNode body, ObjectNode client, String field, List<String> allowed, boolean fillAbsent) {
        if (allowed.isEmpty()) {
            return;
        }
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            if (fillAbsent) {
                body.put(field, allowed.get(0));
                c.changed = true;
            }
            return;
        }
        if (!v.isTextual() || !allowed.contains(v.textValue())) {
            if (!client.hasNonNull(field)) {
                body.put(field, allowed.get(0)); // the proxy's default, not the client's choice
                c.changed = true;
                return;
            }
            c.refuse(new ProxyError(
                    400,
                    "Not allowed",
                    "This caller may ask for " + field + " " + String.join(", ", allowed) + " only",
                    "invalid_request_error",
                    field + "_not_allowed",
                    field,
                    null,
                    Map.of()));
        }
    }

    private static boolean hasBodyRules(Policy p) {
        return !p.models().isEmpty()
                || p.maxTokens() != null
                || p.maxN() != null
                || !p.imageModels().isEmpty()
                || !p.imageSizes().isEmpty()
                || !p.imageQualities().isEmpty();
    }

    /** The request's route name; {@code POST /} is {@code chat} or {@code images} by what its body asks for. */
    private String routeName(RequestContext ctx) {
        Route route = ctx.route;
        if (route.kind() == io.github.openaiproxy.core.route.RouteKind.CHAT_OR_IMAGE
                && ctx.normalized != null
                && ctx.normalized.upstreamPath().startsWith("/v1/images/")) {
            return "images";
        }
        String name = names.get(route);
        return name != null ? name : nameOf(route);
    }

    private static boolean allowed(List<String> rule, String name, String template) {
        for (String r : rule) {
            if (r.equals(name) || r.equals(template)) {
                return true;
            }
        }
        return false;
    }

    /** Stored chat completions and responses: an update, a cancel. */
    private static final java.util.regex.Pattern STORED_OBJECT =
            java.util.regex.Pattern.compile("/v1/chat/completions/\\{[^/{}]+}|/v1/responses/\\{[^/{}]+}/cancel");

    /**
     * Whether a route acts on one stored chat completion or response ({@code POST /v1/chat/completions/{id}}, its
     * update; {@code POST /v1/responses/{id}/cancel}): it generates nothing and names no model, so the model and
     * token rules do not apply to its body. Only these exact shapes: another route under {@code /v1/responses/}
     * (one that compacts, and so generates) is judged as any other.
     */
    static boolean storedObject(String template) {
        return STORED_OBJECT.matcher(template).matches();
    }

    /**
     * A route's name for the {@code routes} rule: {@code chat} and {@code images} for the simple routes, the
     * segment after {@code /v1/} for an OpenAI route ({@code chat} for {@code /v1/chat/completions},
     * {@code images}, {@code responses}, {@code embeddings}, {@code models}, ...), a module route's own name
     * ({@code graphql}, {@code sessions}).
     */
    static String nameOf(Route route) {
        return switch (route.kind()) {
            case CHAT_OR_IMAGE -> "chat";
            case IMAGE -> "images";
            case CUSTOM -> route.custom().name();
            case PASS_THROUGH -> {
                String t = route.template();
                String rest = t.startsWith("/v1/") ? t.substring(4) : t.startsWith("/") ? t.substring(1) : t;
                int slash = rest.indexOf('/');
                yield slash < 0 ? rest : rest.substring(0, slash);
            }
        };
    }

    static boolean matchesAny(List<String> patterns, String model) {
        for (String p : patterns) {
            if (Glob.matches(p, model)) {
                return true;
            }
        }
        return false;
    }

    static ProxyError modelNotAllowed() {
        return new ProxyError(
                403,
                "Forbidden",
                "This caller may not use the requested model",
                "permission_error",
                "model_not_allowed",
                "model",
                null,
                Map.of());
    }

    static ProxyError routeNotAllowed() {
        return new ProxyError(
                403,
                "Forbidden",
                "This caller may not use this route",
                "permission_error",
                "route_not_allowed",
                null,
                null,
                Map.of());
    }

    static ProxyError overCap(String field, int cap) {
        return new ProxyError(
                400,
                "Over the cap",
                field + " is over this caller's cap of " + cap,
                "invalid_request_error",
                "over_cap",
                field,
                null,
                Map.of());
    }

    static ProxyError unknownPolicy() {
        return new ProxyError(
                403,
                "Forbidden",
                "This caller's policy does not exist",
                "permission_error",
                "unknown_policy",
                null,
                null,
                Map.of());
    }

    static ProxyError policyUnavailable() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "This caller's policy could not be loaded; retry shortly",
                "server_error",
                "policy_unavailable",
                null,
                null,
                Map.of("Retry-After", "1"));
    }
}
