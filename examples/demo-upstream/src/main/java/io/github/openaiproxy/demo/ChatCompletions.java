package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.demo.Reply.EventStream;
import io.github.openaiproxy.demo.Reply.JsonReply;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code POST /v1/chat/completions}: a canned {@code chat.completion}, or with {@code "stream": true} the
 * same reply as {@code chat.completion.chunk} events, one per token, ending in {@code data: [DONE]}.
 */
final class ChatCompletions {
    /** Sent by OpenAI on every completion; a fixed demo value keeps the shape. */
    static final String SYSTEM_FINGERPRINT = "fp_demo";

    private ChatCompletions() {}

    static Reply create(JsonNode body) {
        String model = Json.requireModel(body);
        JsonNode messages = body.get("messages");
        if (messages == null || messages.isNull()) {
            throw ApiError.missingParameter("messages").exception();
        }
        if (!messages.isArray()) {
            throw ApiError.invalidRequest(
                            "Invalid type for 'messages': expected an array of objects.", "messages", "invalid_type")
                    .exception();
        }
        if (messages.isEmpty()) {
            throw ApiError.invalidRequest(
                            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                            "messages",
                            "empty_array")
                    .exception();
        }
        // max_completion_tokens replaced max_tokens; a client may send either.
        int legacyLimit = Json.intInRange(body, "max_tokens", 1, Integer.MAX_VALUE, Integer.MAX_VALUE);
        int limit = Json.intInRange(body, "max_completion_tokens", 1, Integer.MAX_VALUE, legacyLimit);

        List<String> pieces = Tokens.split(CannedText.reply(CannedText.lastUserText(messages)));
        String finishReason = "stop";
        if (pieces.size() > limit) {
            pieces = pieces.subList(0, limit);
            finishReason = "length";
        }
        Completion completion = new Completion(
                Ids.chatCompletion(),
                Instant.now().getEpochSecond(),
                model,
                pieces,
                finishReason,
                Tokens.estimateItems(messages));
        if (!Json.flag(body, "stream")) {
            return JsonReply.ok(completion.toJson());
        }
        boolean includeUsage = Json.flag(body.path("stream_options"), "include_usage");
        return new EventStream(completion.toChunks(includeUsage));
    }

    /** One generated reply, rendered whole or as chunks; all chunks share its id and timestamp. */
    private record Completion(
            String id, long created, String model, List<String> pieces, String finishReason, int promptTokens) {

        Completion {
            pieces = List.copyOf(pieces);
        }

        ObjectNode toJson() {
            ObjectNode message = Json.object();
            message.put("role", "assistant");
            message.put("content", String.join("", pieces));
            message.putNull("refusal");
            message.set("annotations", Json.array());
            ObjectNode choice = Json.object();
            choice.put("index", 0);
            choice.set("message", message);
            choice.putNull("logprobs");
            choice.put("finish_reason", finishReason);

            ObjectNode root = header("chat.completion");
            root.set("choices", Json.array().add(choice));
            root.set("usage", usage());
            return root;
        }

        /** The role chunk, one chunk per piece, the finish chunk, the usage chunk if asked for, [DONE]. */
        List<SseEvent> toChunks(boolean includeUsage) {
            List<SseEvent> events = new ArrayList<>();
            ObjectNode roleDelta = Json.object();
            roleDelta.put("role", "assistant");
            roleDelta.put("content", "");
            roleDelta.putNull("refusal");
            events.add(SseEvent.of(chunk(roleDelta, null, includeUsage)));
            for (String piece : pieces) {
                ObjectNode delta = Json.object();
                delta.put("content", piece);
                events.add(SseEvent.of(chunk(delta, null, includeUsage)));
            }
            events.add(SseEvent.of(chunk(Json.object(), finishReason, includeUsage)));
            if (includeUsage) {
                // OpenAI's usage chunk has no choices; every chunk before it carries "usage": null.
                ObjectNode usageChunk = header("chat.completion.chunk");
                usageChunk.set("choices", Json.array());
                usageChunk.set("usage", usage());
                events.add(SseEvent.of(usageChunk));
            }
            events.add(SseEvent.DONE);
            return events;
        }

        private ObjectNode chunk(ObjectNode delta, String finish, boolean includeUsage) {
            ObjectNode choice = Json.object();
            choice.put("index", 0);
            choice.set("delta", delta);
            choice.putNull("logprobs");
            choice.put("finish_reason", finish);
            ObjectNode root = header("chat.completion.chunk");
            root.set("choices", Json.array().add(choice));
            if (includeUsage) {
                root.putNull("usage");
            }
            return root;
        }

        private ObjectNode header(String object) {
            ObjectNode root = Json.object();
            root.put("id", id);
            root.put("object", object);
            root.put("created", created);
            root.put("model", model);
            root.put("service_tier", "default");
            root.put("system_fingerprint", SYSTEM_FINGERPRINT);
            return root;
        }

        private ObjectNode usage() {
            ObjectNode promptDetails = Json.object();
            promptDetails.put("cached_tokens", 0);
            promptDetails.put("audio_tokens", 0);
            ObjectNode completionDetails = Json.object();
            completionDetails.put("reasoning_tokens", 0);
            completionDetails.put("audio_tokens", 0);
            completionDetails.put("accepted_prediction_tokens", 0);
            completionDetails.put("rejected_prediction_tokens", 0);
            ObjectNode usage = Json.object();
            usage.put("prompt_tokens", promptTokens);
            usage.put("completion_tokens", pieces.size());
            usage.put("total_tokens", promptTokens + pieces.size());
            usage.set("prompt_tokens_details", promptDetails);
            usage.set("completion_tokens_details", completionDetails);
            return usage;
        }
    }
}
