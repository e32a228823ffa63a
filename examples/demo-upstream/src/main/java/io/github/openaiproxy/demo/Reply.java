package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/** What an endpoint answers: one JSON document, or a stream of server-sent events. */
sealed interface Reply {

    /** A JSON document with its status and any extra headers. */
    record JsonReply(int status, JsonNode body, Map<String, String> headers) implements Reply {
        public JsonReply {
            headers = Map.copyOf(headers);
        }

        static JsonReply ok(JsonNode body) {
            return new JsonReply(200, body, Map.of());
        }

        static JsonReply of(ApiError error) {
            return new JsonReply(error.status(), error.toJson(), error.headers());
        }
    }

    /** A {@code text/event-stream} body, written one event at a time with the token pause between events. */
    record EventStream(List<SseEvent> events) implements Reply {
        public EventStream {
            events = List.copyOf(events);
        }
    }
}
