package io.github.openaiproxy.graphql;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import graphql.execution.DataFetcherResult;
import graphql.schema.DataFetcher;
import graphql.schema.DataFetchingEnvironment;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.normalize.ImageRequestNormalizer;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.core.session.SessionHeaders;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.reactivestreams.FlowAdapters;

/**
 * The data fetchers. Each one turns its arguments into the REST body of the proxy's own route, runs it
 * through {@link RouteCall#dispatch}, and maps the answer onto the schema's types: no defaults,
 * validation or key handling of its own.
 */
final class ProxyFetchers {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String SESSIONS_DISABLED = "Sessions are disabled on this proxy";
    /** The session routes' own message for an unknown session. */
    private static final String UNKNOWN_SESSION =
            "No session with this id exists (it may have expired or been deleted)";

    private final ImageRequestNormalizer images;
    /** The most a sub-request body may be: the proxy's {@code max-body-size} (see {@link SubRequests#body}). */
    private final long maxBodySize;
    /** Whether the proxy has its session routes: without them every session route is 404. */
    private final boolean sessionsEnabled;

    ProxyFetchers(ProxyConfig config) {
        // Used only to report the model, size, quality and style the image route applied by default.
        this.images = new ImageRequestNormalizer(config.imageDefaults());
        this.maxBodySize = config.maxBodySize();
        this.sessionsEnabled = config.sessions().enabled();
    }

    static RouteCall call(DataFetchingEnvironment env) {
        return env.getGraphQlContext().get(RouteCall.class);
    }

    // --- getAIResponse

    DataFetcher<CompletableFuture<DataFetcherResult<Map<String, Object>>>> getAIResponse() {
        return env -> {
            ObjectNode body = chatBody(env.getArgument("input"), false);
            String sessionId = body.path("sessionId").asText(null);
            RouteCall call = call(env);
            return SubRequests.send(call, SubRequests.request(call, "POST", "/", null, body, maxBodySize))
                    .thenApply(reply -> {
                        Map<String, Object> out = new LinkedHashMap<>();
                        out.put("isUser", false);
                        out.put("sessionId", sessionId);
                        if (reply.status() != 200) {
                            return failed(env, out, ProxyErrors.fromReply(reply));
                        }
                        JsonNode completion = reply.json();
                        JsonNode choice = completion.path("choices").path(0);
                        String recordedId = reply.header(SessionHeaders.MESSAGE_ID);
                        String recordedAt = reply.header(SessionHeaders.MESSAGE_TIMESTAMP);
                        out.put(
                                "id",
                                recordedId != null
                                        ? recordedId
                                        : completion.path("id").asText(null));
                        out.put("content", text(choice.path("message").path("content")));
                        out.put("role", choice.path("message").path("role").asText("assistant"));
                        out.put("model", completion.path("model").asText(null));
                        out.put("finishReason", choice.path("finish_reason").asText(null));
                        out.put(
                                "refusal",
                                choice.path("message").path("refusal").asText(null));
                        out.put("toolCalls", json(choice.path("message").get("tool_calls")));
                        out.put("timestamp", recordedAt != null ? recordedAt : now());
                        out.put("success", true);
                        out.put("error", null);
                        return DataFetcherResult.<Map<String, Object>>newResult()
                                .data(out)
                                .build();
                    });
        };
    }

    /** A JSON value for a {@code JSON} field: plain maps and lists; {@code null} for none. */
    private static Object json(JsonNode value) {
        return value == null || value.isNull() ? null : SubRequests.JSON.convertValue(value, Object.class);
    }

    // --- chatStream

    DataFetcher<CompletableFuture<Object>> chatStream() {
        return env -> {
            ObjectNode body = chatBody(env.getArgument("input"), true);
            RouteCall call = call(env);
            return call.dispatch(SubRequests.request(call, "POST", "/", null, body, maxBodySize))
                    .thenCompose(response -> {
                        if (response.status() == 200 && response.streaming()) {
                            String id = response.headers()
                                    .firstValue(SessionHeaders.MESSAGE_ID)
                                    .orElse(null);
                            return CompletableFuture.completedFuture(
                                    FlowAdapters.toPublisher(new ChatChunks(response.body(), id)));
                        }
                        return SubRequests.read(response)
                                .thenApply(reply -> reply.status() == 200
                                        ? DataFetcherResult.newResult()
                                                .error(ProxyErrors.of(
                                                                "UPSTREAM_ERROR",
                                                                "The upstream did not answer with a stream")
                                                        .toError(env))
                                                .build()
                                        : DataFetcherResult.newResult()
                                                .error(ProxyErrors.fromReply(reply)
                                                        .toError(env))
                                                .build());
                    });
        };
    }

    // --- generateImage

    DataFetcher<CompletableFuture<DataFetcherResult<Map<String, Object>>>> generateImage() {
        return env -> {
            ObjectNode body = withoutNulls(env.getArgument("input"));
            RouteCall call = call(env);
            return SubRequests.send(
                            call, SubRequests.request(call, "POST", "/images/generations", null, body, maxBodySize))
                    .thenApply(reply -> {
                        Map<String, Object> out = new LinkedHashMap<>();
                        out.put("id", "img_" + Long.toHexString(RANDOM.nextLong() & Long.MAX_VALUE));
                        out.put("prompt", body.path("prompt").asText(null));
                        out.put("timestamp", now());
                        if (reply.status() != 200) {
                            return failed(env, out, ProxyErrors.fromReply(reply));
                        }
                        JsonNode applied = applied(body);
                        JsonNode answer = reply.json();
                        List<Map<String, Object>> list = new ArrayList<>();
                        for (JsonNode image : answer.path("data")) {
                            Map<String, Object> i = new HashMap<>();
                            i.put("url", image.path("url").asText(null));
                            i.put("b64_json", image.path("b64_json").asText(null));
                            i.put("revised_prompt", image.path("revised_prompt").asText(null));
                            list.add(i);
                        }
                        out.put("images", list);
                        out.put("model", applied.path("model").asText(null));
                        out.put(
                                "size",
                                answer.path("size").asText(applied.path("size").asText(null)));
                        out.put(
                                "quality",
                                answer.path("quality")
                                        .asText(applied.path("quality").asText(null)));
                        out.put("style", applied.path("style").asText(null));
                        out.put("success", true);
                        out.put("error", null);
                        return DataFetcherResult.<Map<String, Object>>newResult()
                                .data(out)
                                .build();
                    });
        };
    }

    /** The body as the image route normalized it (defaults included). */
    private JsonNode applied(ObjectNode body) {
        Normalized n = images.normalize(body);
        return n instanceof Normalized.Accepted a ? a.body() : body;
    }

    // --- sessions

    DataFetcher<CompletableFuture<DataFetcherResult<Map<String, Object>>>> createSession() {
        return env -> {
            RouteCall call = call(env);
            return SubRequests.send(call, SubRequests.request(call, "POST", "/sessions", null))
                    .thenApply(reply -> {
                        Map<String, Object> out = new LinkedHashMap<>();
                        if (reply.status() != 201) {
                            ProxyErrors.Failure f = reply.status() == 404
                                    ? ProxyErrors.withRequestId(ProxyErrors.of("NOT_FOUND", SESSIONS_DISABLED), reply)
                                    : ProxyErrors.fromReply(reply);
                            return failed(env, out, f);
                        }
                        JsonNode created = reply.json();
                        out.put("sessionId", created.path("sessionId").asText());
                        out.put("createdAt", created.path("createdAt").asText());
                        out.put("success", true);
                        out.put("error", null);
                        return DataFetcherResult.<Map<String, Object>>newResult()
                                .data(out)
                                .build();
                    });
        };
    }

    DataFetcher<CompletableFuture<DataFetcherResult<Map<String, Object>>>> deleteSession() {
        return env -> {
            String id = env.getArgument("sessionId");
            if (id.isBlank()) {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("sessionId", id);
                return CompletableFuture.completedFuture(
                        failed(env, out, ProxyErrors.of("BAD_USER_INPUT", "sessionId must not be blank")));
            }
            RouteCall call = call(env);
            return SubRequests.send(call, SubRequests.request(call, "DELETE", "/sessions/" + encode(id), null))
                    .thenApply(reply -> {
                        Map<String, Object> out = new LinkedHashMap<>();
                        out.put("sessionId", id);
                        if (reply.status() != 200) {
                            return failed(env, out, sessionFailure(reply));
                        }
                        out.put("success", true);
                        out.put("error", null);
                        return DataFetcherResult.<Map<String, Object>>newResult()
                                .data(out)
                                .build();
                    });
        };
    }

    DataFetcher<CompletableFuture<DataFetcherResult<List<Map<String, Object>>>>> chatHistory() {
        return env -> historyPage(env).thenApply(page -> {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> messages = page.getData() == null
                    ? null
                    : (List<Map<String, Object>>) page.getData().get("messages");
            return DataFetcherResult.<List<Map<String, Object>>>newResult()
                    .data(messages)
                    .errors(page.getErrors())
                    .build();
        });
    }

    /** chatHistory with whether more follows: a page also stops at {@code sessions.max-page-size} bytes. */
    DataFetcher<CompletableFuture<DataFetcherResult<Map<String, Object>>>> chatHistoryPage() {
        return this::historyPage;
    }

    /** A page of {@code GET /sessions/{id}/messages}: {@code messages}, {@code hasMore}, {@code nextAfter}. */
    private CompletableFuture<DataFetcherResult<Map<String, Object>>> historyPage(DataFetchingEnvironment env) {
        String id = env.getArgument("sessionId");
        if (id == null || id.isBlank()) {
            return CompletableFuture.completedFuture(DataFetcherResult.<Map<String, Object>>newResult()
                    .error(ProxyErrors.of("BAD_USER_INPUT", "chatHistory needs a sessionId (see createSession)")
                            .toError(env))
                    .build());
        }
        Integer limit = env.getArgument("limit");
        Integer after = env.getArgument("after");
        String query = "limit=" + (limit == null ? 100 : limit) + "&after=" + (after == null ? 0 : after);
        RouteCall call = call(env);
        return SubRequests.send(call, SubRequests.request(call, "GET", "/sessions/" + encode(id) + "/messages", query))
                .thenApply(reply -> {
                    if (reply.status() != 200) {
                        return DataFetcherResult.<Map<String, Object>>newResult()
                                .error(sessionFailure(reply).toError(env))
                                .build();
                    }
                    List<Map<String, Object>> messages = new ArrayList<>();
                    for (JsonNode m : reply.json().path("messages")) {
                        Map<String, Object> out = new LinkedHashMap<>();
                        out.put("id", m.path("id").asText());
                        out.put("content", m.path("content").asText());
                        out.put("isUser", m.path("isUser").asBoolean());
                        out.put("timestamp", m.path("timestamp").asText());
                        out.put("role", m.path("role").asText());
                        out.put("sequence", m.path("sequence").asInt());
                        out.put("refusal", m.path("refusal").asText(null));
                        out.put("toolCalls", json(m.get("toolCalls")));
                        out.put("toolCallId", m.path("toolCallId").asText(null));
                        out.put("name", m.path("name").asText(null));
                        out.put("sessionId", id);
                        messages.add(out);
                    }
                    Map<String, Object> page = new LinkedHashMap<>();
                    page.put("messages", messages);
                    page.put("hasMore", reply.json().path("hasMore").asBoolean());
                    page.put("nextAfter", reply.json().path("nextAfter").asInt());
                    return DataFetcherResult.<Map<String, Object>>newResult()
                            .data(page)
                            .build();
                });
    }

    /**
     * A 404 on a session route is an unknown session (or sessions are off); anything else as usual. A 404 that
     * is not the session store's (an id that cannot be a path segment matches no route) names no session
     * either: it gets the unknown session's message, never the sub-request's internal route.
     */
    private ProxyErrors.Failure sessionFailure(SubRequests.Reply reply) {
        if (reply.status() == 404) {
            // The message is ours, the id the REST answer's (as for every other failed call).
            if (!sessionsEnabled) {
                return ProxyErrors.withRequestId(ProxyErrors.of("NOT_FOUND", SESSIONS_DISABLED), reply);
            }
            JsonNode error = reply.json();
            return ProxyErrors.withRequestId(
                    ProxyErrors.of(
                            "NOT_FOUND",
                            "Session Not Found".equals(error.path("error").asText())
                                    ? error.path("message").asText(UNKNOWN_SESSION)
                                    : UNKNOWN_SESSION),
                    reply);
        }
        return ProxyErrors.fromReply(reply);
    }

    // --- helpers

    private static DataFetcherResult<Map<String, Object>> failed(
            DataFetchingEnvironment env, Map<String, Object> payload, ProxyErrors.Failure failure) {
        payload.put("success", false);
        payload.put("error", failure.message());
        return DataFetcherResult.<Map<String, Object>>newResult()
                .data(payload)
                .error(failure.toError(env))
                .build();
    }

    /** The REST chat body for a ChatInput; the operation decides {@code stream}. */
    private static ObjectNode chatBody(Map<String, Object> input, boolean stream) {
        ObjectNode body = withoutNulls(input);
        body.put("stream", stream);
        return body;
    }

    /** The input as JSON, without the fields left unset (so the proxy applies its defaults). */
    static ObjectNode withoutNulls(Map<String, Object> input) {
        JsonNode tree = SubRequests.JSON.valueToTree(input);
        return (ObjectNode) strip(tree);
    }

    private static JsonNode strip(JsonNode node) {
        if (node instanceof ObjectNode o) {
            List<String> nulls = new ArrayList<>();
            o.properties().forEach(e -> {
                if (e.getValue().isNull()) {
                    nulls.add(e.getKey());
                }
            });
            o.remove(nulls);
            o.forEach(ProxyFetchers::stripChildren);
        }
        return node;
    }

    /** A message input's optional fields, which OpenAI refuses as {@code null}. */
    private static final List<String> UNSET_WHEN_NULL = List.of("name", "tool_calls", "tool_call_id");

    private static void stripChildren(JsonNode child) {
        if (child.isArray()) {
            child.forEach(item -> {
                // Only a message's own fields are inputs: an explicit null stands for unset, as at the top level.
                // Its content stays (null is an assistant's content beside tool calls), and JSON values as given.
                if (item instanceof ObjectNode o && o.has("role")) {
                    for (String field : UNSET_WHEN_NULL) {
                        if (o.path(field).isNull()) {
                            o.remove(field);
                        }
                    }
                }
            });
        }
    }

    private static String text(JsonNode content) {
        if (content.isTextual()) {
            return content.textValue();
        }
        if (content.isMissingNode() || content.isNull()) {
            return null;
        }
        return content.toString();
    }

    private static String encode(String segment) {
        return URLEncoder.encode(segment == null ? "" : segment, StandardCharsets.UTF_8)
                .replace("+", "%20");
    }

    static String now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS).toString();
    }
}
