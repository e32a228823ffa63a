package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.demo.Reply.EventStream;
import io.github.openaiproxy.demo.Reply.JsonReply;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code POST /v1/responses}: a canned {@code response} object with one assistant message, or with
 * {@code "stream": true} the Responses API's named events, from {@code response.created} through one
 * {@code response.output_text.delta} per token to {@code response.completed}.
 */
final class Responses {
    private Responses() {}

    static Reply create(JsonNode body) {
        String model = Json.requireModel(body);
        JsonNode input = body.get("input");
        String userText = input != null && input.isTextual() ? input.textValue() : CannedText.lastUserText(input);
        JsonNode instructions = body.get("instructions");
        Generated generated = new Generated(
                Ids.response(),
                Ids.message(),
                Instant.now().getEpochSecond(),
                model,
                // Only string instructions are echoed: an item list would need its own schema here.
                instructions != null && instructions.isTextual() ? instructions.textValue() : null,
                Tokens.split(CannedText.reply(userText)),
                Tokens.estimateItems(input));
        if (Json.flag(body, "stream")) {
            return new EventStream(generated.toEvents());
        }
        return JsonReply.ok(generated.response(true));
    }

    /** One generated response; its events and final object share the ids and timestamp. */
    private record Generated(
            String id,
            String messageId,
            long createdAt,
            String model,
            String instructions,
            List<String> pieces,
            int inputTokens) {

        Generated {
            pieces = List.copyOf(pieces);
        }

        String text() {
            return String.join("", pieces);
        }

        List<SseEvent> toEvents() {
            Sequence events = new Sequence();
            ObjectNode created = Json.object();
            created.set("response", response(false));
            events.add("response.created", created);
            ObjectNode inProgress = Json.object();
            inProgress.set("response", response(false));
            events.add("response.in_progress", inProgress);

            ObjectNode itemAdded = Json.object();
            itemAdded.put("output_index", 0);
            itemAdded.set("item", message(false));
            events.add("response.output_item.added", itemAdded);
            ObjectNode partAdded = contentEvent();
            partAdded.set("part", outputText(""));
            events.add("response.content_part.added", partAdded);

            for (String piece : pieces) {
                ObjectNode delta = contentEvent();
                delta.put("delta", piece);
                delta.set("logprobs", Json.array());
                events.add("response.output_text.delta", delta);
            }

            ObjectNode textDone = contentEvent();
            textDone.put("text", text());
            textDone.set("logprobs", Json.array());
            events.add("response.output_text.done", textDone);
            ObjectNode partDone = contentEvent();
            partDone.set("part", outputText(text()));
            events.add("response.content_part.done", partDone);
            ObjectNode itemDone = Json.object();
            itemDone.put("output_index", 0);
            itemDone.set("item", message(true));
            events.add("response.output_item.done", itemDone);
            ObjectNode completed = Json.object();
            completed.set("response", response(true));
            events.add("response.completed", completed);
            return events.list;
        }

        /** The response object: in progress (no output, no usage) while streaming, else completed. */
        ObjectNode response(boolean done) {
            ObjectNode r = Json.object();
            r.put("id", id);
            r.put("object", "response");
            r.put("created_at", createdAt);
            r.put("status", done ? "completed" : "in_progress");
            if (done) {
                r.put("completed_at", Instant.now().getEpochSecond());
            } else {
                r.putNull("completed_at");
            }
            r.putNull("error");
            r.putNull("incomplete_details");
            r.put("instructions", instructions);
            r.putNull("max_output_tokens");
            r.put("model", model);
            r.set("output", done ? Json.array().add(message(true)) : Json.array());
            r.put("parallel_tool_calls", true);
            r.putNull("previous_response_id");
            ObjectNode reasoning = Json.object();
            reasoning.putNull("effort");
            reasoning.putNull("summary");
            r.set("reasoning", reasoning);
            // The demo keeps nothing, so it does not claim to have stored the response.
            r.put("store", false);
            r.put("temperature", 1.0);
            ObjectNode format = Json.object();
            format.put("type", "text");
            ObjectNode text = Json.object();
            text.set("format", format);
            r.set("text", text);
            r.put("tool_choice", "auto");
            r.set("tools", Json.array());
            r.put("top_p", 1.0);
            r.put("truncation", "disabled");
            if (done) {
                r.set("usage", usage());
            } else {
                r.putNull("usage");
            }
            r.putNull("user");
            r.set("metadata", Json.object());
            return r;
        }

        private ObjectNode message(boolean done) {
            ObjectNode m = Json.object();
            m.put("id", messageId);
            m.put("type", "message");
            m.put("status", done ? "completed" : "in_progress");
            m.put("role", "assistant");
            m.set("content", done ? Json.array().add(outputText(text())) : Json.array());
            return m;
        }

        private static ObjectNode outputText(String text) {
            ObjectNode part = Json.object();
            part.put("type", "output_text");
            part.put("text", text);
            part.set("annotations", Json.array());
            part.set("logprobs", Json.array());
            return part;
        }

        /** The fields every event about the one text part carries. */
        private ObjectNode contentEvent() {
            ObjectNode e = Json.object();
            e.put("item_id", messageId);
            e.put("output_index", 0);
            e.put("content_index", 0);
            return e;
        }

        private ObjectNode usage() {
            ObjectNode inputDetails = Json.object();
            inputDetails.put("cached_tokens", 0);
            inputDetails.put("cache_write_tokens", 0);
            ObjectNode outputDetails = Json.object();
            outputDetails.put("reasoning_tokens", 0);
            ObjectNode usage = Json.object();
            usage.put("input_tokens", inputTokens);
            usage.set("input_tokens_details", inputDetails);
            usage.put("output_tokens", pieces.size());
            usage.set("output_tokens_details", outputDetails);
            usage.put("total_tokens", inputTokens + pieces.size());
            return usage;
        }
    }

    /** Names each event and numbers it, as every Responses stream event carries {@code sequence_number}. */
    private static final class Sequence {
        private final List<SseEvent> list = new ArrayList<>();

        void add(String type, ObjectNode fields) {
            ObjectNode event = Json.object();
            event.put("type", type);
            event.put("sequence_number", list.size());
            event.setAll(fields);
            list.add(SseEvent.named(type, event));
        }
    }
}
