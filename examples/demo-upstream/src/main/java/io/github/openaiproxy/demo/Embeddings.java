package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.demo.Reply.JsonReply;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code POST /v1/embeddings}: deterministic unit vectors seeded by a hash of each input, so equal inputs
 * get equal vectors in every run, as {@code float} arrays or OpenAI's {@code base64} of little-endian
 * float32 (the Node SDK asks for base64 by default).
 */
final class Embeddings {
    /** OpenAI's limit on inputs per request. */
    static final int MAX_INPUTS = 2048;

    static final int MAX_DIMENSIONS = 3072;

    private Embeddings() {}

    static Reply create(JsonNode body) {
        String model = Json.requireModel(body);
        List<JsonNode> inputs = inputs(body.get("input"));
        int dimensions = Json.intInRange(body, "dimensions", 1, MAX_DIMENSIONS, defaultDimensions(model));
        boolean base64 = base64(body);

        ArrayNode data = Json.array();
        int tokens = 0;
        for (int i = 0; i < inputs.size(); i++) {
            JsonNode input = inputs.get(i);
            // Token arrays count one token per element; text is estimated.
            tokens += input.isTextual() ? Tokens.estimate(input.textValue()) : Math.max(1, input.size());
            float[] vector = vector(input, dimensions);
            ObjectNode item = Json.object();
            item.put("object", "embedding");
            item.put("index", i);
            if (base64) {
                item.put("embedding", toBase64(vector));
            } else {
                ArrayNode values = Json.array();
                for (float v : vector) {
                    values.add(v);
                }
                item.set("embedding", values);
            }
            data.add(item);
        }
        ObjectNode usage = Json.object();
        usage.put("prompt_tokens", tokens);
        usage.put("total_tokens", tokens);
        ObjectNode root = Json.object();
        root.put("object", "list");
        root.set("data", data);
        root.put("model", model);
        root.set("usage", usage);
        return JsonReply.ok(root);
    }

    /** The vector for one input: seeded by SHA-256 of its JSON text, then scaled to length 1 like OpenAI's. */
    static float[] vector(JsonNode input, int dimensions) {
        byte[] digest = sha256(Json.bytes(input));
        SplittableRandom random = new SplittableRandom(ByteBuffer.wrap(digest).getLong());
        double[] raw = new double[dimensions];
        double norm = 0;
        for (int i = 0; i < dimensions; i++) {
            raw[i] = random.nextDouble(-1.0, 1.0);
            norm += raw[i] * raw[i];
        }
        norm = Math.sqrt(norm);
        float[] vector = new float[dimensions];
        for (int i = 0; i < dimensions; i++) {
            vector[i] = (float) (raw[i] / norm);
        }
        return vector;
    }

    /**
     * The inputs as OpenAI accepts them: a string, an array of strings, an array of token ids, or an array of
     * token-id arrays. Each item is one input, so a single token array is one input, not many.
     */
    private static List<JsonNode> inputs(JsonNode input) {
        if (input == null || input.isNull()) {
            throw ApiError.missingParameter("input").exception();
        }
        if (input.isTextual()) {
            return List.of(input);
        }
        if (!input.isArray() || input.isEmpty()) {
            throw invalidInput();
        }
        if (input.get(0).isIntegralNumber()) {
            for (JsonNode token : input) {
                if (!token.isIntegralNumber()) {
                    throw invalidInput();
                }
            }
            return List.of(input);
        }
        if (input.size() > MAX_INPUTS) {
            throw ApiError.invalidRequest(
                            "'$.input' is invalid: at most " + MAX_INPUTS + " inputs are allowed per request.",
                            "input",
                            "invalid_value")
                    .exception();
        }
        List<JsonNode> inputs = new ArrayList<>(input.size());
        for (JsonNode item : input) {
            if (!(item.isTextual() || item.isArray() && !item.isEmpty())) {
                throw invalidInput();
            }
            inputs.add(item);
        }
        return inputs;
    }

    private static ApiException invalidInput() {
        return ApiError.invalidRequest(
                        "'$.input' is invalid: expected a string, an array of strings, an array of token ids,"
                                + " or an array of token-id arrays.",
                        "input",
                        "invalid_value")
                .exception();
    }

    /** The sizes of OpenAI's models: 3072 for text-embedding-3-large, 1536 for the others. */
    private static int defaultDimensions(String model) {
        return model.startsWith("text-embedding-3-large") ? 3072 : 1536;
    }

    private static boolean base64(JsonNode body) {
        JsonNode v = body.get("encoding_format");
        if (v == null || v.isNull() || v.isTextual() && v.textValue().equals("float")) {
            return false;
        }
        if (v.isTextual() && v.textValue().equals("base64")) {
            return true;
        }
        throw ApiError.invalidRequest(
                        "Invalid 'encoding_format': expected one of 'float' or 'base64'.",
                        "encoding_format",
                        "invalid_value")
                .exception();
    }

    private static String toBase64(float[] vector) {
        ByteBuffer bytes = ByteBuffer.allocate(vector.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : vector) {
            bytes.putFloat(v);
        }
        return Base64.getEncoder().encodeToString(bytes.array());
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
