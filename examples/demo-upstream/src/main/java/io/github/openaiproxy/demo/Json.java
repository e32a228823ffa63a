package io.github.openaiproxy.demo;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/** JSON reading and writing for the demo upstream, plus lenient field access on request bodies. */
final class Json {
    private static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    // A body may be one big string (a base64 image in a chat message): allow the whole body limit.
                    .streamReadConstraints(StreamReadConstraints.builder()
                            .maxStringLength(DemoHandler.MAX_BODY_BYTES)
                            .build())
                    .build())
            // A valid value followed by junk is invalid JSON, as OpenAI treats it.
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private Json() {}

    /** Parses exactly one JSON value; throws {@link IOException} for anything else, including an empty body. */
    static JsonNode parse(byte[] bytes) throws IOException {
        JsonNode node = MAPPER.readTree(bytes);
        if (node == null || node.isMissingNode()) {
            throw new IOException("empty body");
        }
        return node;
    }

    static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    static ArrayNode array() {
        return MAPPER.createArrayNode();
    }

    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize JSON", e);
        }
    }

    /** The field when it is a string, else {@code null}. */
    static String text(JsonNode body, String field) {
        JsonNode v = body.get(field);
        return v != null && v.isTextual() ? v.textValue() : null;
    }

    /** The {@code model} field, which every generating endpoint requires, as OpenAI words its absence. */
    static String requireModel(JsonNode body) {
        String model = text(body, "model");
        if (model == null || model.isBlank()) {
            throw ApiError.invalidRequest("you must provide a model parameter", null, null)
                    .exception();
        }
        return model;
    }

    /**
     * An optional integer field within {@code [min, max]}; {@code fallback} when absent or {@code null}.
     *
     * @throws ApiException 400 naming the field when it is present but not such an integer
     */
    static int intInRange(JsonNode body, String field, int min, int max, int fallback) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < min || v.intValue() > max) {
            throw ApiError.invalidRequest(
                            "Invalid '" + field + "': expected an integer between " + min + " and " + max + ".",
                            field,
                            "invalid_value")
                    .exception();
        }
        return v.intValue();
    }

    /** An optional boolean field; anything but {@code true} counts as false, as lenient clients expect. */
    static boolean flag(JsonNode body, String field) {
        JsonNode v = body.get(field);
        return v != null && v.isBoolean() && v.booleanValue();
    }
}
