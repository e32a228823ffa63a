package io.github.openaiproxy.core;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.github.openaiproxy.core.internal.Json;
import java.io.IOException;
import java.util.Optional;

/**
 * Reads the top-level {@code model} of a pass-through body for metrics, with a streaming parser that
 * stops at the field: no tree is built and nothing is re-serialized.
 */
final class ModelSniffer {
    private ModelSniffer() {}

    static Optional<String> model(byte[] body) {
        try (JsonParser p = Json.mapper().getFactory().createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return Optional.empty();
            }
            for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if ("model".equals(name)) {
                    return value == JsonToken.VALUE_STRING ? Optional.of(p.getText()) : Optional.empty();
                }
                p.skipChildren();
            }
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
