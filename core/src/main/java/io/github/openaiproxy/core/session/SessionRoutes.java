package io.github.openaiproxy.core.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.FunctionRoute;
import io.github.openaiproxy.core.route.RouteCall;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The REST routes of the sessions, mounted by the engine like a module's routes (so they get its CORS,
 * 405 and size handling):
 *
 * <ul>
 *   <li>{@code POST /sessions}: 201 {@code {"sessionId":..,"createdAt":..,"success":true}}
 *   <li>{@code GET /sessions/{id}}: 200 {@code {"sessionId":..,"createdAt":..}}
 *   <li>{@code DELETE /sessions/{id}}: 200 {@code {"sessionId":..,"success":true}}
 *   <li>{@code GET /sessions/{id}/messages?after=N&limit=M}: 200 {@code {"sessionId":..,"messages":[..],
 *       "hasMore":..,"nextAfter":..}}, messages in sequence order after sequence {@code after} (default 0),
 *       at most {@code limit} (1-1000, default 100) and at most {@code sessions.max-page-size} bytes of
 *       messages (but at least one message): a page that stops early says {@code hasMore}, and
 *       {@code nextAfter} continues it
 * </ul>
 *
 * An unknown session is 404 {@code Session Not Found}, and so is a session owned by another caller (the
 * same answer, so it tells no one that the session exists); see {@link ChatSessions} for owners.
 */
final class SessionRoutes {
    static final int DEFAULT_LIMIT = 100;
    static final int MAX_LIMIT = 1000;

    private SessionRoutes() {}

    static List<CustomRoute> all(ChatSessions sessions) {
        return List.of(
                // A creation counts against the caller's request rate: it writes a row (in a JDBC store) and calls
                // no upstream, so nothing else would bound it. Reads and deletes do not count (see the README).
                new FunctionRoute(
                        "/sessions",
                        Set.of("POST"),
                        ErrorStyle.SIMPLE,
                        false,
                        true,
                        call -> create(sessions, ChatSessions.ownerId(call.identity()))),
                new FunctionRoute("/sessions/{id}", Set.of("GET", "DELETE"), call -> {
                    String id = segment(call, 2);
                    String caller = ChatSessions.ownerId(call.identity());
                    return call.request().method().equals("DELETE")
                            ? delete(sessions, id, call.identity())
                            : find(sessions, id, caller);
                }),
                new FunctionRoute("/sessions/{id}/messages", Set.of("GET"), call -> messages(sessions, call)));
    }

    private static CompletableFuture<ProxyResponse> create(ChatSessions sessions, String owner) {
        return answer(sessions, () -> sessions.store().create(owner), s -> {
            ObjectNode n = Json.object();
            n.put("sessionId", s.id());
            n.put("createdAt", s.createdAt().toString());
            n.put("success", true);
            return json(201, n);
        });
    }

    private static CompletableFuture<ProxyResponse> find(ChatSessions sessions, String id, String caller) {
        return answer(
                sessions,
                () -> sessions.findUsable(id, caller),
                found -> found.map(s -> {
                            ObjectNode n = Json.object();
                            n.put("sessionId", s.id());
                            n.put("createdAt", s.createdAt().toString());
                            return json(200, n);
                        })
                        .orElseGet(() -> error(SessionErrors.notFound())));
    }

    private static CompletableFuture<ProxyResponse> delete(ChatSessions sessions, String id, Identity caller) {
        // The owner never changes: a session this caller may use now is one it may delete (its images too).
        return sessions.deleteWithImages(id, caller).handle((deleted, error) -> {
            if (error != null) {
                return error(ChatSessions.storeFailure(error));
            }
            if (!deleted) {
                return error(SessionErrors.notFound());
            }
            ObjectNode n = Json.object();
            n.put("sessionId", id);
            n.put("success", true);
            return json(200, n);
        });
    }

    private static CompletableFuture<ProxyResponse> messages(ChatSessions sessions, RouteCall call) {
        String id = segment(call, 2);
        String caller = ChatSessions.ownerId(call.identity());
        String query = call.request().rawQuery().orElse("");
        long after;
        int limit;
        try {
            after = parameter(query, "after")
                    .map(v -> parse(v, "after", 0, Long.MAX_VALUE))
                    .orElse(0L);
            limit = parameter(query, "limit")
                    .map(v -> (int) parse(v, "limit", 1, MAX_LIMIT))
                    .orElse(DEFAULT_LIMIT);
        } catch (IllegalArgumentException e) {
            String param = e.getMessage().startsWith("after") ? "after" : "limit";
            return CompletableFuture.completedFuture(error(SessionErrors.invalid(param, e.getMessage())));
        }
        return answer(
                sessions,
                () -> sessions.findUsable(id, caller).isPresent()
                        ? sessions.store()
                                .messages(id, after, limit, sessions.config().maxPageSize())
                        : Optional.<MessagePage>empty(),
                page -> page.map(p -> {
                            ObjectNode n = Json.object();
                            n.put("sessionId", id);
                            ArrayNode list = n.putArray("messages");
                            p.messages().forEach(m -> list.add(toJson(m)));
                            n.put("hasMore", p.hasMore());
                            n.put("nextAfter", p.nextAfter());
                            return json(200, n);
                        })
                        .orElseGet(() -> error(SessionErrors.notFound())));
    }

    /** The fields of a kept whole message that the REST routes show, by their name there. */
    private static final Map<String, String> MESSAGE_FIELDS = new LinkedHashMap<>();

    static {
        MESSAGE_FIELDS.put("tool_calls", "toolCalls");
        MESSAGE_FIELDS.put("function_call", "functionCall");
        MESSAGE_FIELDS.put("tool_call_id", "toolCallId");
        MESSAGE_FIELDS.put("refusal", "refusal");
        MESSAGE_FIELDS.put("name", "name");
    }

    /** A message as the REST routes show it. */
    static ObjectNode toJson(StoredMessage m) {
        ObjectNode n = Json.object();
        n.put("id", m.id());
        n.put("sequence", m.sequence());
        n.put("role", m.role());
        n.put("content", m.content());
        if (m.contentJson() != null) {
            try {
                JsonNode json = Json.parse(m.contentJson().getBytes(StandardCharsets.UTF_8));
                if (!json.isObject()) {
                    n.set("parts", json);
                } else {
                    // The whole message was kept: its multi-part content, tool calls, tool call id, refusal, name.
                    if (json.path("content").isArray()) {
                        n.set("parts", json.get("content"));
                    }
                    MESSAGE_FIELDS.forEach((field, name) -> {
                        if (json.hasNonNull(field)) {
                            n.set(name, json.get(field));
                        }
                    });
                }
            } catch (IOException e) {
                // stored by this proxy, so always JSON; leave it out otherwise
            }
        }
        n.put("isUser", m.isUser());
        n.put("timestamp", m.timestamp().toString());
        return n;
    }

    private static <T> CompletableFuture<ProxyResponse> answer(
            ChatSessions sessions, Supplier<T> operation, Function<T, ProxyResponse> render) {
        return sessions.call(operation).handle((value, error) -> {
            if (error != null) {
                return error(ChatSessions.storeFailure(error));
            }
            return render.apply(value);
        });
    }

    /** Segment {@code index} of the path ({@code /sessions/{id}/...}: the id is segment 2), decoded. */
    private static String segment(RouteCall call, int index) {
        String[] parts = call.request().path().split("/");
        return index < parts.length ? URLDecoder.decode(parts[index], StandardCharsets.UTF_8) : "";
    }

    private static Optional<String> parameter(String query, String name) {
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            String key = eq < 0 ? pair : pair.substring(0, eq);
            if (key.equals(name)) {
                return Optional.of(eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return Optional.empty();
    }

    private static long parse(String value, String name, long min, long max) {
        try {
            long v = Long.parseLong(value.strip());
            if (v >= min && v <= max) {
                return v;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(name + " must be an integer from " + min + " to " + max);
    }

    static ProxyResponse json(int status, ObjectNode body) {
        return ProxyResponse.builder(status).json(Json.bytes(body)).build();
    }

    static ProxyResponse error(ProxyError e) {
        return ProxyResponse.builder(e.status())
                .headers(e.headers())
                .json(ErrorStyle.SIMPLE.render(e))
                .build();
    }
}
