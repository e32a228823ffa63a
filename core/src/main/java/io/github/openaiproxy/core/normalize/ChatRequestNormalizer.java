package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;

/**
 * Checks a chat body of the simple route and fills in the seed's defaults. Explicit values, zero
 * included, are kept; every other field is forwarded untouched.
 */
public final class ChatRequestNormalizer {
    private final ChatDefaults defaults;

    public ChatRequestNormalizer(ChatDefaults defaults) {
        this.defaults = defaults;
    }

    /** Normalizes {@code body} (a copy is changed, never the argument). */
    public Normalized normalize(ObjectNode body) {
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray()) {
            return new Normalized.Rejected(ProxyError.badRequest(
                    "Invalid messages format", "messages field is required and must be an array", "messages"));
        }
        if (messages.isEmpty()) {
            // OpenAI requires at least one message; say so here rather than relay its 400.
            return new Normalized.Rejected(ProxyError.badRequest(
                    "Invalid messages format", "messages must contain at least one message", "messages"));
        }
        Normalized.Rejected invalid = SharedFields.check(body);
        if (invalid != null) {
            return invalid;
        }
        ObjectNode out = SharedFields.copyWithout(body, "prompt");
        if (isAbsent(out, "model")) {
            out.put("model", defaults.model());
        }
        if (isAbsent(out, "temperature")) {
            out.put("temperature", defaults.temperature());
        }
        // Newer models take max_completion_tokens and refuse max_tokens: add the default only when neither is set.
        if (isAbsent(out, "max_tokens") && isAbsent(out, "max_completion_tokens")) {
            out.put("max_tokens", defaults.maxTokens());
        }
        if (isAbsent(out, "stream")) {
            out.put("stream", defaults.stream());
        }
        return new Normalized.Accepted(
                "/v1/chat/completions",
                out,
                out.get("stream").booleanValue(),
                out.get("model").textValue());
    }

    static boolean isAbsent(ObjectNode body, String field) {
        JsonNode v = body.get(field);
        return v == null || v.isNull();
    }
}
