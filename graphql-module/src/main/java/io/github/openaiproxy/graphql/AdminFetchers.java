package io.github.openaiproxy.graphql;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import graphql.execution.DataFetcherResult;
import graphql.schema.DataFetcher;
import graphql.schema.DataFetchingEnvironment;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.route.RouteCall;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The admin fields ({@code admin.graphqls}): each one is a sub-request to the admin REST route under
 * {@code admin.path}, mapped onto the schema's types. The admin route checks the caller itself, so the rules,
 * the validation, the error codes and the audit log are literally those of REST; nothing is decided here.
 *
 * <p>The credential is the client's own: the sub-request carries the GraphQL request's {@code Authorization}
 * headers and host user as they came, and nothing else. A field of the other fetchers never carries them, so
 * no other sub-request can reach the admin route as an admin.
 */
final class AdminFetchers {
    private static final String AUTHORIZATION = "Authorization";

    /** The admin path without its trailing slash, as the admin routes are mounted. */
    private final String base;

    /** The most a sub-request body may be: the proxy's {@code max-body-size} (see {@link SubRequests#body}). */
    private final long maxBodySize;

    AdminFetchers(AccessConfig.Admin admin, long maxBodySize) {
        String p = admin.path();
        this.base = p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
        this.maxBodySize = maxBodySize;
    }

    /**
     * What a field reads or changes, for the answer to a path no route answers (an id or name that cannot be a
     * path segment, which REST answers 404): the REST answer for an unknown one, or a bad name for a new policy.
     */
    private enum Thing {
        KEY("NOT_FOUND", "key_not_found", "No proxy key with this id exists"),
        POLICY("NOT_FOUND", "policy_not_found", "No stored policy with this name exists"),
        IMAGE("NOT_FOUND", "image_not_found", "No stored image with this id exists"),
        NEW_POLICY("BAD_USER_INPUT", "invalid_request", "A policy name is 1-64 letters, digits, '.', '_' or '-'"),
        API("NOT_FOUND", "not_found", "The admin API is not served by this proxy");

        final String code;
        final String reason;
        final String message;

        Thing(String code, String reason, String message) {
            this.code = code;
            this.reason = reason;
            this.message = message;
        }
    }

    // --- queries

    /**
     * A page of keys ({@code GET /admin/keys}) as a ProxyKeyPage: the REST route checks {@code limit} and
     * {@code after}, and its {@code has_more} and {@code next_after} are the page's {@code hasMore} and
     * {@code nextAfter}.
     */
    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> keys() {
        return env -> send(
                env,
                "GET",
                base + "/keys",
                query(env, "limit", "after"),
                null,
                Thing.API,
                answer -> page(answer, keyList(answer)));
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> key() {
        return env ->
                withSegment(env, "id", id -> send(env, "GET", keyPath(id), null, null, Thing.KEY, AdminFetchers::key));
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> policies() {
        return env -> send(env, "GET", base + "/policies", null, null, Thing.API, answer -> {
            List<Object> list = new ArrayList<>();
            answer.path("data").forEach(p -> list.add(policy(p)));
            return list;
        });
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> policy() {
        return env -> withSegment(
                env,
                "name",
                name -> send(env, "GET", policyPath(name), null, null, Thing.POLICY, AdminFetchers::policy));
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> audit() {
        return env -> send(env, "GET", base + "/audit", query(env, "limit"), null, Thing.API, AdminFetchers::auditList);
    }

    /**
     * A page of the audit log ({@code GET /admin/audit}) as an AuditPage: the REST route checks {@code limit} and
     * {@code after}, and its {@code has_more} and {@code next_after} are the page's {@code hasMore} and
     * {@code nextAfter}, as for {@link #keys()}.
     */
    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> auditPage() {
        return env -> send(
                env,
                "GET",
                base + "/audit",
                query(env, "limit", "after"),
                null,
                Thing.API,
                answer -> page(answer, auditList(answer)));
    }

    /** A REST page ({@code has_more}, {@code next_after}) as a GraphQL one: {@code data}, {@code hasMore}, {@code nextAfter}. */
    private static Map<String, Object> page(JsonNode answer, List<Object> data) {
        Map<String, Object> page = new LinkedHashMap<>();
        page.put("data", data);
        page.put("hasMore", answer.path("has_more").asBoolean());
        page.put("nextAfter", answer.path("next_after").asText(null));
        return page;
    }

    /** The REST answer's entries as AuditEntries. */
    private static List<Object> auditList(JsonNode answer) {
        List<Object> list = new ArrayList<>();
        for (JsonNode e : answer.path("data")) {
            list.add(fields(e, "at", "actor", "action", "keyId", "imageId", "policy"));
        }
        return list;
    }

    /**
     * The usage ledger summed ({@code GET /admin/usage}) as a UsagePage: the REST route parses and checks the
     * arguments, and its {@code has_more} is the page's {@code hasMore}.
     */
    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> usage() {
        return env -> {
            String query = query(env, "since", "until", "by", "key", "identity", "limit");
            return send(env, "GET", base + "/usage", query, null, Thing.API, answer -> {
                Map<String, Object> page = new LinkedHashMap<>();
                page.put("data", usageRows(answer));
                page.put("hasMore", answer.path("has_more").asBoolean());
                page.put("by", answer.path("by").asText(null));
                page.put("since", answer.path("since").asText(null));
                page.put("until", answer.path("until").asText(null));
                return page;
            });
        };
    }

    /** The query string of the arguments given among {@code names}, each encoded; the REST route checks them. */
    private static String query(DataFetchingEnvironment env, String... names) {
        StringBuilder query = new StringBuilder();
        for (String name : names) {
            Object value = env.getArgument(name);
            if (value != null) {
                query.append(query.isEmpty() ? "" : "&")
                        .append(name)
                        .append('=')
                        .append(URLEncoder.encode(value.toString(), StandardCharsets.UTF_8));
            }
        }
        return query.toString();
    }

    /** The REST answer's rows as UsageRows. */
    private static List<Object> usageRows(JsonNode answer) {
        List<Object> list = new ArrayList<>();
        for (JsonNode row : answer.path("data")) {
            Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("group", row.path("group").isNull() ? null : row.path("group").asText());
            for (String f : List.of(
                    "requests",
                    "inputTokens",
                    "cachedInputTokens",
                    "outputTokens",
                    "reasoningTokens",
                    "totalTokens",
                    "images",
                    "estimated")) {
                // Float: GraphQL's Int is 32 bits, and token sums outgrow it.
                m.put(f, row.path(f).asDouble());
            }
            m.put("costUsd", row.path("costUsd").decimalValue().toPlainString());
            list.add(m);
        }
        return list;
    }

    // --- mutations

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> createKey() {
        return env -> {
            ObjectNode body = ProxyFetchers.withoutNulls(env.getArgument("input"));
            return send(env, "POST", base + "/keys", null, body, Thing.API, AdminFetchers::created);
        };
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> revokeKey() {
        return env -> withSegment(
                env, "id", id -> send(env, "POST", keyPath(id) + "/revoke", null, null, Thing.KEY, AdminFetchers::key));
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> rotateKey() {
        return env -> withSegment(
                env,
                "id",
                id -> send(env, "POST", keyPath(id) + "/rotate", null, null, Thing.KEY, AdminFetchers::created));
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> changeKeyPolicy() {
        return env -> withSegment(env, "id", id -> {
            ObjectNode body = SubRequests.JSON.createObjectNode();
            body.put("policy", (String) env.getArgument("policy"));
            return send(env, "PATCH", keyPath(id), null, body, Thing.KEY, AdminFetchers::key);
        });
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> savePolicy() {
        return env -> withSegment(env, "name", name -> {
            // The rules as the client wrote them: the REST route refuses what is not a policy object.
            JsonNode body = SubRequests.JSON.valueToTree(env.getArgument("rules"));
            return send(env, "PUT", policyPath(name), null, body, Thing.NEW_POLICY, AdminFetchers::policy);
        });
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> deletePolicy() {
        return env -> withSegment(
                env,
                "name",
                name -> send(
                        env,
                        "DELETE",
                        policyPath(name),
                        null,
                        null,
                        Thing.POLICY,
                        answer -> fields(answer, "name", "deleted")));
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Object>>> deleteImage() {
        return env -> withSegment(
                env,
                "id",
                id -> send(
                        env,
                        "DELETE",
                        base + "/images/" + segment(id),
                        null,
                        null,
                        Thing.IMAGE,
                        answer -> fields(answer, "id", "deleted")));
    }

    // --- the sub-request

    /**
     * Runs the admin route with the client's own credential and maps a 2xx answer, or answers the route's
     * error with the module's codes.
     */
    private CompletableFuture<DataFetcherResult<Object>> send(
            DataFetchingEnvironment env,
            String method,
            String path,
            String query,
            JsonNode body,
            Thing thing,
            Function<JsonNode, Object> map) {
        RouteCall call = ProxyFetchers.call(env);
        return SubRequests.send(call, request(call, method, path, query, body, maxBodySize))
                .thenApply(reply -> {
                    if (reply.status() / 100 == 2) {
                        return DataFetcherResult.newResult()
                                .data(map.apply(reply.json()))
                                .build();
                    }
                    return DataFetcherResult.newResult()
                            .error(failure(reply, thing).toError(env))
                            .build();
                });
    }

    /**
     * The sub-request: the client's {@code Authorization} headers and host user, as they came (the admin route
     * authenticates them), and its {@code Origin} with the proxy's own origin (a host user's admin role counts
     * only from the proxy's own origin: a page elsewhere that a logged-in admin visits must not use it through
     * GraphQL either); no other header of the client's, and never a credential of the module's own.
     */
    static ProxyRequest request(
            RouteCall call, String method, String path, String query, JsonNode body, long maxBodySize) {
        ProxyRequest client = call.request();
        ProxyRequest.Builder b = ProxyRequest.builder(method, path)
                .rawQuery(query)
                .user(client.user().orElse(null))
                .requestOrigin(client.requestOrigin().orElse(null));
        client.headers().allValues(AUTHORIZATION).forEach(v -> b.header(AUTHORIZATION, v));
        client.headers().allValues("Origin").forEach(v -> b.header("Origin", v));
        if (body != null) {
            SubRequests.body(b, body, maxBodySize);
        }
        return b.build();
    }

    /**
     * The route's error with the module's codes; a 404 that is no answer of the admin route (no route matched:
     * an id or name that cannot be a path segment) is the not-found of what was asked for, as on REST.
     */
    private static ProxyErrors.Failure failure(SubRequests.Reply reply, Thing thing) {
        ProxyErrors.Failure f = ProxyErrors.fromAdminReply(reply);
        if (f != null) {
            return f;
        }
        return reply.status() == 404
                ? ProxyErrors.of(thing.code, thing.message, thing.reason)
                : ProxyErrors.fromReply(reply);
    }

    /** Runs {@code then} with a non-blank argument, else answers {@code BAD_USER_INPUT} without a call. */
    private static CompletableFuture<DataFetcherResult<Object>> withSegment(
            DataFetchingEnvironment env,
            String argument,
            Function<String, CompletableFuture<DataFetcherResult<Object>>> then) {
        String value = env.getArgument(argument);
        if (value == null || value.isBlank()) {
            return CompletableFuture.completedFuture(DataFetcherResult.newResult()
                    .error(ProxyErrors.of("BAD_USER_INPUT", argument + " must not be blank")
                            .toError(env))
                    .build());
        }
        return then.apply(value);
    }

    private String keyPath(String id) {
        return base + "/keys/" + segment(id);
    }

    private String policyPath(String name) {
        return base + "/policies/" + segment(name);
    }

    /** One path segment: every separator, {@code %} and space encoded (the route decodes it). */
    private static String segment(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    // --- answers onto the schema's types

    private static List<Object> keyList(JsonNode answer) {
        List<Object> list = new ArrayList<>();
        answer.path("data").forEach(k -> list.add(key(k)));
        return list;
    }

    /** A ProxyKey: the fields the schema names, picked one by one (never a key or a hash). */
    private static Map<String, Object> key(JsonNode k) {
        return fields(
                k,
                "id",
                "prefix",
                "name",
                "owner",
                "policy",
                "status",
                "source",
                "createdAt",
                "expiresAt",
                "revokedAt",
                "lastUsedAt");
    }

    /** A CreatedProxyKey: the key itself, shown this once, and what is stored of it. */
    private static Map<String, Object> created(JsonNode answer) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("key", answer.path("key").asText(null));
        out.put("proxyKey", key(answer));
        return out;
    }

    /** An AdminPolicy: name, source, and the rest as its rules. */
    private static Map<String, Object> policy(JsonNode p) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", p.path("name").asText(null));
        out.put("source", p.path("source").asText(null));
        ObjectNode rules = p.isObject() ? ((ObjectNode) p).deepCopy() : SubRequests.JSON.createObjectNode();
        rules.remove(List.of("name", "source"));
        out.put("rules", SubRequests.JSON.convertValue(rules, Map.class));
        return out;
    }

    private static Map<String, Object> fields(JsonNode node, String... names) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String n : names) {
            JsonNode v = node.path(n);
            Object value = null;
            if (v.isBoolean()) {
                value = v.booleanValue();
            } else if (v.isTextual() || v.isNumber()) {
                value = v.asText();
            }
            out.put(n, value);
        }
        return out;
    }
}
