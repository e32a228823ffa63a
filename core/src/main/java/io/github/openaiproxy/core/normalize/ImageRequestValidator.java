package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Checks the fields of an image body against what its model accepts and names the field at fault.
 * Models the proxy does not know get no model-specific checks.
 */
final class ImageRequestValidator {
    private static final String TITLE = "Invalid image request";
    private static final Map<String, Set<String>> GPT_IMAGE_ENUMS = Map.of(
            "background", Set.of("transparent", "opaque", "auto"),
            "output_format", Set.of("png", "jpeg", "webp"),
            "moderation", Set.of("low", "auto"));

    private ImageRequestValidator() {}

    /** Checks {@code body} for {@code model}; empty when valid. */
    public static Optional<ProxyError> validate(String modelName, ImageModel model, ObjectNode body) {
        String prompt = body.get("prompt").textValue();
        if (prompt.length() > model.maxPromptLength()) {
            return reject(
                    "prompt", "prompt must be at most " + model.maxPromptLength() + " characters for " + modelName);
        }
        JsonNode n = present(body, "n");
        if (n != null
                && !(n.canConvertToInt()
                        && n.isIntegralNumber()
                        && n.intValue() >= 1
                        && n.intValue() <= model.maxN())) {
            return reject(
                    "n",
                    model.maxN() == 1
                            ? "n must be 1 for " + modelName
                            : "n must be an integer between 1 and " + model.maxN() + " for " + modelName);
        }
        JsonNode size = present(body, "size");
        if (size != null && !(size.isTextual() && model.acceptsSize(size.textValue()))) {
            return reject("size", "size must be one of " + model.describeSizes() + " for " + modelName);
        }
        JsonNode quality = present(body, "quality");
        if (quality != null && !(quality.isTextual() && model.qualities().contains(quality.textValue()))) {
            return reject("quality", "quality must be one of " + sorted(model.qualities()) + " for " + modelName);
        }
        JsonNode style = present(body, "style");
        if (style != null) {
            if (model.family() == ImageModel.Family.GPT_IMAGE) {
                return reject("style", "style is not supported by " + modelName);
            }
            // dall-e-2 has no style; a valid dall-e-3 style is tolerated there and dropped before sending.
            Set<String> styles =
                    model.family() == ImageModel.Family.DALL_E_2 ? ImageModel.DALL_E_3.styles() : model.styles();
            if (!(style.isTextual() && styles.contains(style.textValue()))) {
                return reject("style", "style must be one of " + sorted(styles) + " for " + modelName);
            }
        }
        JsonNode format = present(body, "response_format");
        if (format != null) {
            if (model.responseFormats().isEmpty()) {
                return reject(
                        "response_format",
                        "response_format is not supported by " + modelName + ", which always returns b64_json");
            }
            if (!(format.isTextual() && model.responseFormats().contains(format.textValue()))) {
                return reject("response_format", "response_format must be one of b64_json, url");
            }
        }
        if (model.family() != ImageModel.Family.GPT_IMAGE) {
            for (String p : sorted(ImageModel.GPT_IMAGE_ONLY_PARAMS).split(", ")) {
                if (present(body, p) != null) {
                    return reject(p, p + " is only supported by the GPT image models");
                }
            }
            JsonNode stream = present(body, "stream");
            if (stream != null && stream.asBoolean(false)) {
                return reject("stream", "stream is only supported by the GPT image models");
            }
            return Optional.empty();
        }
        for (Map.Entry<String, Set<String>> e : GPT_IMAGE_ENUMS.entrySet()) {
            JsonNode v = present(body, e.getKey());
            if (v != null && !(v.isTextual() && e.getValue().contains(v.textValue()))) {
                return reject(e.getKey(), e.getKey() + " must be one of " + sorted(e.getValue()));
            }
        }
        Optional<ProxyError> compression = integerBetween(body, "output_compression", 0, 100);
        if (compression.isPresent()) {
            return compression;
        }
        return integerBetween(body, "partial_images", 0, 3);
    }

    /** Refuses {@code field} when it is present and not an integer from {@code min} to {@code max}. */
    private static Optional<ProxyError> integerBetween(ObjectNode body, String field, int min, int max) {
        JsonNode v = present(body, field);
        if (v != null && !(v.isIntegralNumber() && v.canConvertToInt() && v.intValue() >= min && v.intValue() <= max)) {
            return reject(field, field + " must be an integer between " + min + " and " + max);
        }
        return Optional.empty();
    }

    private static JsonNode present(ObjectNode body, String field) {
        JsonNode v = body.get(field);
        return v == null || v.isNull() ? null : v;
    }

    private static Optional<ProxyError> reject(String param, String message) {
        return Optional.of(ProxyError.badRequest(TITLE, message, param));
    }

    private static String sorted(Set<String> values) {
        return String.join(", ", new java.util.TreeSet<>(values));
    }
}
