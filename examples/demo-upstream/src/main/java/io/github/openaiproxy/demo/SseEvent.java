package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;

/**
 * One server-sent event as OpenAI writes it: an optional {@code event:} line (the Responses API names its
 * events, Chat Completions does not) and one {@code data:} line.
 *
 * @param name the event name, or {@code null} for none
 * @param data the data line's text; JSON never contains a raw newline, so one line is enough
 */
record SseEvent(String name, String data) {
    /** The terminator Chat Completions sends after its last chunk. */
    static final SseEvent DONE = new SseEvent(null, "[DONE]");

    static SseEvent of(JsonNode json) {
        return new SseEvent(null, new String(Json.bytes(json), StandardCharsets.UTF_8));
    }

    static SseEvent named(String name, JsonNode json) {
        return new SseEvent(name, new String(Json.bytes(json), StandardCharsets.UTF_8));
    }

    byte[] encode() {
        String text = (name == null ? "" : "event: " + name + "\n") + "data: " + data + "\n\n";
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
