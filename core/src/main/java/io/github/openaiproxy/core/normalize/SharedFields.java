package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;

/** The fields chat and image bodies of the simple routes share, checked and cleaned the same way for both. */
final class SharedFields {
    private SharedFields() {}

    /** The rejection of a malformed {@code model} or {@code stream}, or {@code null} when both are fine. */
    static Normalized.Rejected check(ObjectNode body) {
        JsonNode model = body.get("model");
        if (model != null
                && !model.isNull()
                && !(model.isTextual() && !model.textValue().isBlank())) {
            return new Normalized.Rejected(
                    ProxyError.badRequest("Invalid model", "model must be a non-empty string", "model"));
        }
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isNull() && !stream.isBoolean()) {
            return new Normalized.Rejected(
                    ProxyError.badRequest("Invalid stream flag", "stream must be a boolean", "stream"));
        }
        return null;
    }

    /**
     * The copy to send upstream: without the proxy's {@code action} and without the other kind's field (a
     * {@code prompt} in a chat, {@code messages} in an image request), which would make OpenAI refuse it.
     */
    static ObjectNode copyWithout(ObjectNode body, String otherKindsField) {
        // The top level only: the members below are shared with the client's tree, never written to (a deep copy
        // doubled what a body of many tiny values costs, dozens of times its bytes). The one member the proxy
        // writes into, stream_options (asking a stream for its usage), is copied.
        ObjectNode out = body.objectNode().setAll(body);
        out.remove("action");
        out.remove(otherKindsField);
        JsonNode options = out.get("stream_options");
        if (options != null && options.isContainerNode()) {
            out.set("stream_options", options.deepCopy());
        }
        return out;
    }
}
