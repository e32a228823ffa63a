package io.github.openaiproxy.core.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.AccessStoreException;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditPage;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyJson;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyPage;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.images.ImageStoreException;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.internal.ListLimit;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.usage.ledger.InvalidUsageQueryException;
import io.github.openaiproxy.core.usage.ledger.LedgerTimeoutException;
import io.github.openaiproxy.core.usage.ledger.LedgerUnavailableException;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.core.usage.ledger.UsageSummary;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;

/**
 * The admin API over REST, JSON in and out, under {@code admin.path} (default {@code /admin}):
 *
 * <ul>
 *   <li>{@code GET /admin/keys?limit=N&after=CURSOR}: a page of keys, {@code {"object":"list","data":[key, ...],
 *       "has_more","next_after"}}: at most {@code limit} (1-1000, default 100), declared keys first, then stored
 *       ones, each by id; {@code next_after} is the cursor to pass as {@code after} for the next page ({@code null}
 *       on the last). A key is {@code {"id","object":"proxy_key","prefix","name","owner","policy","status","source",
 *       "createdAt","expiresAt","revokedAt","lastUsedAt"}}, never the key or its hash; 400 naming a bad
 *       {@code limit} or {@code after} in {@code param}
 *   <li>{@code POST /admin/keys} {@code {"name","owner"?,"policy"?,"expiresAt"?}}: 201, the key with
 *       {@code "key"}: the key itself, shown this once
 *   <li>{@code GET /admin/keys/{id}}; {@code PATCH} or {@code PUT /admin/keys/{id}} {@code {"policy"}}
 *   <li>{@code POST /admin/keys/{id}/revoke}; {@code POST /admin/keys/{id}/rotate} (the new key, once)
 *   <li>{@code GET /admin/policies}: configured ({@code "source":"config"}, read-only) and stored policies
 *   <li>{@code GET}, {@code PUT} (create or replace; body as {@link PolicyJson}), {@code DELETE
 *       /admin/policies/{name}}
 *   <li>{@code DELETE /admin/images/{id}} (or {@code {id}.{ext}}): deletes a stored image, whoever made it;
 *       {@code {"id","object":"image","deleted":true}}
 *   <li>{@code GET /admin/audit?limit=N&after=CURSOR}: a page of the changes, newest first, {@code {"object":"list",
 *       "data":[entry, ...],"has_more","next_after"}}: at most {@code limit} (1-1000, default 100) older than the
 *       cursor {@code after} (the {@code next_after} of the previous page; left out: from the newest), so that a
 *       client walks the whole log back, the changes made meanwhile shifting nothing; 400 naming a bad
 *       {@code limit} or {@code after} in {@code param}, as for keys
 *   <li>{@code GET /admin/usage?since=7d&until=...&by=key|user|model|policy|day&key=ID&identity=KIND:id&limit=N}:
 *       the usage ledger summed, {@code {"object":"list","by","since","until","data":[{"group","requests",
 *       "inputTokens","cachedInputTokens","outputTokens","reasoningTokens","totalTokens","images","costUsd",
 *       "estimated"}, ...],"has_more"}}: {@code has_more} when {@code limit} left groups out; 400 naming the
 *       parameter for a bad one, 404 {@code ledger_off} without a ledger, 503 {@code ledger_timeout} for a summary
 *       that read longer than its store allows
 * </ul>
 *
 * Errors are in OpenAI's shape: 401 {@code invalid_api_key} without an admin credential, 403 for a user without
 * the admin role, 400 for a bad body, 404 for an unknown key, policy or image, 409 for a read-only one, 503 when
 * a store fails. The routes check their callers themselves ({@link CustomRoute#authenticatesItself()}).
 */
public final class AdminRoutes {
    /** Bodies larger than this are refused (413) as they are read: admin bodies are a few fields. */
    static final int MAX_BODY = 64 * 1024;

    private static final System.Logger LOG = System.getLogger(AdminRoutes.class.getName());

    private final AdminService service;
    private final AdminAuth auth;
    private final Executor executor;
    private final Clock clock;

    private AdminRoutes(AdminService service, AdminAuth auth, Executor executor, Clock clock) {
        this.service = service;
        this.auth = auth;
        this.executor = executor;
        this.clock = clock;
    }

    /**
     * The routes of the admin API.
     *
     * @param admin the {@code admin.*} configuration (its path and credentials)
     * @param service the operations
     * @param executor runs the store calls, which may block: never a request thread
     */
    public static List<CustomRoute> create(
            io.github.openaiproxy.core.access.AccessConfig.Admin admin, AdminService service, Executor executor) {
        AdminRoutes r = new AdminRoutes(service, new AdminAuth(admin), executor, Clock.systemUTC());
        String p = admin.path().endsWith("/")
                ? admin.path().substring(0, admin.path().length() - 1)
                : admin.path();
        return List.of(
                r.route(p + "/keys", Set.of("GET", "POST"), r::keys),
                r.route(p + "/keys/{id}", Set.of("GET", "PATCH", "PUT"), r::key),
                r.route(
                        p + "/keys/{id}/revoke",
                        Set.of("POST"),
                        call -> key(r.service.revokeKey(call.actor(), r.segment(call)), r)),
                r.route(
                        p + "/keys/{id}/rotate",
                        Set.of("POST"),
                        call -> r.created(200, r.service.rotateKey(call.actor(), r.segment(call)))),
                r.route(p + "/policies", Set.of("GET"), call -> {
                    ArrayNode data = Json.mapper().createArrayNode();
                    r.service.listPolicies().forEach(e -> data.add(policy(e)));
                    return list(data);
                }),
                r.route(p + "/policies/{name}", Set.of("GET", "PUT", "DELETE"), r::policy),
                r.route(p + "/images/{id}", Set.of("DELETE"), r::deleteImage),
                r.route(p + "/audit", Set.of("GET"), r::audit),
                r.route(p + "/usage", Set.of("GET"), r::usage));
    }

    /** One call, authenticated. */
    private record Call(RouteCall route, String actor, String template) {
        String method() {
            return route.request().method();
        }
    }

    private ProxyResponse keys(Call call) {
        if (call.method().equals("GET")) {
            return keyPage(call);
        }
        JsonNode body = body(call, Set.of("name", "owner", "policy", "expiresAt"));
        Instant expires = null;
        String expiresAt = text(body, "expiresAt");
        if (expiresAt != null) {
            try {
                expires = Instant.parse(expiresAt);
            } catch (DateTimeParseException e) {
                throw AdminException.invalid("expiresAt must be an ISO-8601 instant, for example 2030-01-01T00:00:00Z");
            }
        }
        NewKey request = new NewKey(text(body, "name"), text(body, "owner"), text(body, "policy"), expires);
        return created(201, service.createKey(call.actor(), request));
    }

    /**
     * A page of keys: at most {@code limit} (default 100, at most 1000), from after the cursor
     * {@code after}; {@code has_more} and {@code next_after}, the cursor of the next page, say whether one follows.
     */
    private ProxyResponse keyPage(Call call) {
        Map<String, String> params = knownParameters(call, KEYS_PARAMETERS);
        int limit = limit(params, KEYS_LIMIT);
        String after = KeyCursor.decode(params.get("after"));
        ProxyKeyPage page = service.keyPage(after, limit);
        ArrayNode data = Json.mapper().createArrayNode();
        page.keys().forEach(k -> data.add(keyNode(k)));
        return page(data, page.hasMore(), KeyCursor.encode(page.nextAfter()));
    }

    /**
     * The {@code limit} of a listing, read as every admin listing reads it ({@link ListLimit}): a refused one is a
     * 400 naming {@code limit} in {@code param}.
     */
    private static int limit(Map<String, String> params, ListLimit rule) {
        return rule.parse(params.get("limit"))
                .orElseThrow(() -> new AdminException(400, "invalid_request", rule.refusal(), "limit"));
    }

    private ProxyResponse key(Call call) {
        String id = segment(call);
        if (call.method().equals("GET")) {
            return key(service.key(id), this);
        }
        JsonNode body = body(call, Set.of("policy"));
        String policy = text(body, "policy");
        if (policy == null) {
            throw AdminException.invalid("policy is required");
        }
        return key(service.changeKeyPolicy(call.actor(), id, policy), this);
    }

    private ProxyResponse policy(Call call) {
        String name = segment(call);
        switch (call.method()) {
            case "GET":
                return json(200, policy(service.policy(name)));
            case "DELETE":
                service.deletePolicy(call.actor(), name);
                ObjectNode n = Json.object();
                n.put("name", name);
                n.put("deleted", true);
                return json(200, n);
            default:
                Policy p;
                try {
                    p = PolicyJson.fromNode(name, parse(call));
                } catch (IllegalArgumentException e) {
                    throw AdminException.invalid(e.getMessage());
                }
                return json(200, policy(service.savePolicy(call.actor(), p)));
        }
    }

    private ProxyResponse deleteImage(Call call) {
        String id = service.deleteImage(call.actor(), segment(call));
        ObjectNode n = Json.object();
        n.put("id", id);
        n.put("object", "image");
        n.put("deleted", true);
        return json(200, n);
    }

    /**
     * A page of the audit log, newest first: at most {@code limit} (default 100, at most 1000) entries older than
     * the cursor {@code after}; {@code has_more} and {@code next_after} as for keys.
     */
    private ProxyResponse audit(Call call) {
        Map<String, String> params = knownParameters(call, AUDIT_PARAMETERS);
        int limit = limit(params, AUDIT_LIMIT);
        AuditPage page = service.auditPage(AuditCursor.decode(params.get("after")), limit);
        ArrayNode data = Json.mapper().createArrayNode();
        for (AuditEntry e : page.entries()) {
            ObjectNode n = data.addObject();
            n.put("at", e.at().toString());
            n.put("actor", e.actor());
            n.put("action", e.action());
            boolean image = AdminService.IMAGE_DELETE.equals(e.action());
            n.put("keyId", image ? null : e.keyId());
            n.put("imageId", image ? e.keyId() : null);
            n.put("policy", e.policy());
        }
        return page(data, page.hasMore(), AuditCursor.encode(page.nextBefore()));
    }

    private ProxyResponse usage(Call call) {
        Map<String, String> params = knownParameters(call, USAGE_PARAMETERS);
        UsageQuery q;
        try {
            q = UsageQuery.parse(
                    params.get("since"),
                    params.get("until"),
                    params.get("by"),
                    params.get("key"),
                    params.get("identity"),
                    params.get("limit"),
                    clock.instant());
        } catch (InvalidUsageQueryException e) {
            throw new AdminException(400, "invalid_request", e.getMessage(), e.parameter());
        }
        // One group more than asked for tells whether the sum of data is all the range's usage.
        List<UsageSummary> rows = service.usage(q.oneMore());
        boolean more = rows.size() > q.limit();
        if (more) {
            rows = rows.subList(0, q.limit());
        }
        ArrayNode data = Json.mapper().createArrayNode();
        for (UsageSummary s : rows) {
            ObjectNode n = data.addObject();
            n.put("group", s.group());
            n.put("requests", s.requests());
            n.put("inputTokens", s.inputTokens());
            n.put("cachedInputTokens", s.cachedInputTokens());
            n.put("outputTokens", s.outputTokens());
            n.put("reasoningTokens", s.reasoningTokens());
            n.put("totalTokens", s.totalTokens());
            n.put("images", s.images());
            n.put("costUsd", s.costUsd());
            n.put("estimated", s.estimated());
        }
        ObjectNode n = Json.object();
        n.put("object", "list");
        n.put("by", q.by().label());
        n.put("since", q.since().toString());
        n.put("until", q.until().toString());
        n.set("data", data);
        n.put("has_more", more);
        return json(200, n);
    }

    private static final Set<String> USAGE_PARAMETERS =
            new java.util.TreeSet<>(List.of("since", "until", "by", "key", "identity", "limit"));
    private static final Set<String> AUDIT_PARAMETERS = Set.of("limit", "after");
    private static final Set<String> KEYS_PARAMETERS = Set.of("limit", "after");

    /** The keys a page of {@code GET /admin/keys} holds unless a limit is asked for, and the most it holds. */
    static final ListLimit KEYS_LIMIT = new ListLimit(100, 1000);
    /** The entries {@code GET /admin/audit} answers unless a limit is asked for, and the most it answers. */
    static final ListLimit AUDIT_LIMIT = new ListLimit(100, 1000);

    /**
     * The query's parameters by name, each of {@code known} at most once: a misspelt or repeated parameter is a 400
     * rather than silently ignored, so {@code ?limt=5} does not quietly answer the default.
     */
    private static Map<String, String> knownParameters(Call call, Set<String> known) {
        Map<String, String> params = new java.util.HashMap<>();
        for (Map.Entry<String, String> p : parameters(call)) {
            String name = p.getKey();
            if (!known.contains(name)) {
                throw AdminException.invalid("unknown parameter "
                        + (name.length() > 40 ? name.substring(0, 40) + "..." : name) + "; known: "
                        + new java.util.TreeSet<>(known));
            }
            if (params.put(name, p.getValue()) != null) {
                throw AdminException.invalid(name + " is given twice");
            }
        }
        return params;
    }

    /**
     * The query's parameters in order, names and values percent-decoded as a URL's query is ({@code limit=%31} is
     * {@code limit=1}); a name without {@code =} has the empty value. Every admin route reads its query here.
     */
    private static List<Map.Entry<String, String>> parameters(Call call) {
        String query = call.route().request().rawQuery().orElse("");
        List<Map.Entry<String, String>> out = new java.util.ArrayList<>();
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            out.add(Map.entry(
                    decode(eq < 0 ? pair : pair.substring(0, eq)), eq < 0 ? "" : decode(pair.substring(eq + 1))));
        }
        return out;
    }

    private static String decode(String s) {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw AdminException.invalid("the query string is not URL-encoded");
        }
    }

    // ---- JSON

    private static ProxyResponse key(ProxyKey k, AdminRoutes r) {
        return json(200, r.keyNode(k));
    }

    private ProxyResponse created(int status, CreatedKey c) {
        ObjectNode n = keyNode(c.key());
        n.put("key", c.secret());
        return ProxyResponse.builder(status)
                .header("Cache-Control", "no-store")
                .json(Json.bytes(n))
                .build();
    }

    /** What the API shows of a key: never the key, never its hash. */
    ObjectNode keyNode(ProxyKey k) {
        ObjectNode n = Json.object();
        n.put("id", k.id());
        n.put("object", "proxy_key");
        n.put("prefix", k.displayPrefix());
        n.put("name", k.name());
        n.put("owner", k.owner());
        n.put("policy", k.policy());
        Instant now = clock.instant();
        n.put("status", k.revokedAt() != null ? "revoked" : k.isActiveAt(now) ? "active" : "expired");
        n.put("source", service.isDeclared(k) ? "config" : "stored");
        n.put("createdAt", time(k.createdAt()));
        n.put("expiresAt", time(k.expiresAt()));
        n.put("revokedAt", time(k.revokedAt()));
        n.put("lastUsedAt", time(k.lastUsedAt()));
        return n;
    }

    private static ObjectNode policy(PolicyEntry e) {
        ObjectNode n = PolicyJson.toNode(e.policy());
        n.put("source", e.configured() ? "config" : "stored");
        return n;
    }

    private static String time(Instant t) {
        return t == null ? null : t.toString();
    }

    /** A page of a listing that pages by cursor: {@code has_more}, and {@code next_after} ({@code null} on the last). */
    private static ProxyResponse page(ArrayNode data, boolean hasMore, String nextAfter) {
        ObjectNode n = Json.object();
        n.put("object", "list");
        n.set("data", data);
        n.put("has_more", hasMore);
        n.put("next_after", nextAfter);
        return json(200, n);
    }

    private static ProxyResponse list(ArrayNode data) {
        ObjectNode n = Json.object();
        n.put("object", "list");
        n.set("data", data);
        return json(200, n);
    }

    private static ProxyResponse json(int status, ObjectNode body) {
        return ProxyResponse.builder(status)
                .header("Cache-Control", "no-store")
                .json(Json.bytes(body))
                .build();
    }

    static ProxyResponse error(ProxyError e) {
        return ProxyResponse.builder(e.status())
                .headers(e.headers())
                .json(ErrorStyle.OPENAI.render(e))
                .build();
    }

    private static ProxyError error(AdminException e) {
        String title = switch (e.status()) {
            case 404 -> "Not Found";
            case 409 -> "Conflict";
            default -> "Bad Request";
        };
        return new ProxyError(
                e.status(), title, e.getMessage(), "invalid_request_error", e.code(), e.param(), null, Map.of());
    }

    private static ProxyError unavailable() {
        return serviceUnavailable("The key and policy store is unavailable", "admin_store_unavailable", true);
    }

    /** 503 in OpenAI's shape; {@code retry} adds {@code Retry-After: 5} for a store that may be back soon. */
    private static ProxyError serviceUnavailable(String message, String code, boolean retry) {
        return new ProxyError(
                503,
                "Service Unavailable",
                message,
                "server_error",
                code,
                null,
                null,
                retry ? Map.of("Retry-After", "5") : Map.of());
    }

    // ---- request parts

    private static JsonNode parse(Call call) {
        byte[] bytes = call.route().body();
        if (bytes.length > MAX_BODY) {
            throw AdminException.invalid("the body is larger than " + MAX_BODY + " bytes");
        }
        try {
            return Json.parse(bytes);
        } catch (IOException e) {
            throw AdminException.invalid("the body must be one JSON object");
        }
    }

    private static JsonNode body(Call call, Set<String> fields) {
        JsonNode body = parse(call);
        if (!body.isObject()) {
            throw AdminException.invalid("the body must be one JSON object");
        }
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!fields.contains(f)) {
                throw AdminException.invalid(
                        "unknown field " + (f.length() > 40 ? f.substring(0, 40) + "..." : f) + "; known: " + fields);
            }
        }
        return body;
    }

    private static String text(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw AdminException.invalid(field + " must be a string");
        }
        return v.asText();
    }

    /** The path segment that stands where the template has its {@code {...}} one, decoded. */
    private String segment(Call call) {
        String[] t = call.template().split("/");
        String[] p = call.route().request().path().split("/");
        for (int i = 0; i < t.length && i < p.length; i++) {
            if (t[i].startsWith("{")) {
                try {
                    return URLDecoder.decode(p[i], StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    return "";
                }
            }
        }
        return "";
    }

    // ---- plumbing

    private CustomRoute route(String path, Set<String> methods, Function<Call, ProxyResponse> handler) {
        return new AdminRoute(path, Set.copyOf(methods), auth, call -> {
            AdminAuth.Outcome outcome = auth.check(call.request());
            if (outcome instanceof AdminAuth.Outcome.Refused refused) {
                return CompletableFuture.completedFuture(error(refused.error()));
            }
            String actor = ((AdminAuth.Outcome.Allowed) outcome).actor();
            Call c = new Call(call, actor, path);
            try {
                return CompletableFuture.supplyAsync(() -> answer(handler, c), executor);
            } catch (RejectedExecutionException e) {
                return CompletableFuture.completedFuture(error(unavailable()));
            }
        });
    }

    /**
     * One admin route: it refuses a caller without an admin credential from the headers, before the engine reads
     * the body (so nobody unknown has a body buffered for a 401), and reads at most {@link #MAX_BODY} of an admin's.
     */
    private record AdminRoute(
            String path,
            Set<String> methods,
            AdminAuth auth,
            Function<RouteCall, CompletableFuture<ProxyResponse>> handler)
            implements CustomRoute {
        @Override
        public ErrorStyle errorStyle() {
            return ErrorStyle.OPENAI;
        }

        @Override
        public boolean authenticatesItself() {
            return true;
        }

        @Override
        public Optional<ProxyError> refuseBeforeBody(ProxyRequest request) {
            return auth.check(request) instanceof AdminAuth.Outcome.Refused refused
                    ? Optional.of(refused.error())
                    : Optional.empty();
        }

        @Override
        public long maxBodySize() {
            return MAX_BODY;
        }

        @Override
        public CompletableFuture<ProxyResponse> handle(RouteCall call) {
            return handler.apply(call);
        }
    }

    private static ProxyResponse answer(Function<Call, ProxyResponse> handler, Call call) {
        try {
            return handler.apply(call);
        } catch (AdminException e) {
            return error(error(e));
        } catch (LedgerTimeoutException e) {
            LOG.log(System.Logger.Level.WARNING, "admin call failed: {0}", e.getMessage());
            return error(serviceUnavailable(
                    "The usage summary read longer than " + e.timeout().toSeconds()
                            + "s and was cancelled; ask for a shorter range, or for one key or identity",
                    "ledger_timeout",
                    false));
        } catch (LedgerUnavailableException e) {
            LOG.log(System.Logger.Level.WARNING, "admin call failed: {0}", e.getMessage());
            return error(serviceUnavailable("The usage ledger is unavailable", "ledger_unavailable", true));
        } catch (ImageStoreException e) {
            LOG.log(System.Logger.Level.WARNING, "admin call failed: {0}", e.getMessage());
            return error(ProxyError.imageStoreUnavailable());
        } catch (AccessStoreException | UnsupportedOperationException e) {
            LOG.log(System.Logger.Level.WARNING, "admin call failed: {0}", e.getMessage());
            return error(unavailable());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "admin call failed", e);
            return error(ProxyError.internal());
        }
    }
}
