package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;
import java.util.Optional;

/** Checks an image body of the simple routes, validates it for its model and fills in defaults. */
public final class ImageRequestNormalizer {
    private final ImageDefaults defaults;

    public ImageRequestNormalizer(ImageDefaults defaults) {
        this.defaults = defaults;
    }

    /** Normalizes {@code body} (a copy is changed, never the argument). */
    public Normalized normalize(ObjectNode body) {
        JsonNode prompt = body.get("prompt");
        if (prompt == null || !prompt.isTextual() || prompt.textValue().isBlank()) {
            return new Normalized.Rejected(ProxyError.badRequest(
                    "Invalid prompt", "prompt field is required and must be a non-empty string", "prompt"));
        }
        Normalized.Rejected malformed = SharedFields.check(body);
        if (malformed != null) {
            return malformed;
        }
        ObjectNode out = SharedFields.copyWithout(body, "messages");
        if (ChatRequestNormalizer.isAbsent(out, "model")) {
            out.put("model", defaults.model());
        }
        String modelName = out.get("model").textValue();
        Optional<ImageModel> model = ImageModel.forName(modelName);
        if (model.isPresent()) {
            Optional<ProxyError> invalid = ImageRequestValidator.validate(modelName, model.get(), out);
            if (invalid.isPresent()) {
                return new Normalized.Rejected(invalid.get());
            }
            applyDefaults(out, model.get());
        }
        boolean streaming = out.path("stream").asBoolean(false);
        return new Normalized.Accepted("/v1/images/generations", out, streaming, modelName);
    }

    private void applyDefaults(ObjectNode out, ImageModel model) {
        if (ChatRequestNormalizer.isAbsent(out, "n") && defaults.n() <= model.maxN()) {
            out.put("n", defaults.n());
        }
        if (ChatRequestNormalizer.isAbsent(out, "size") && model.acceptsSize(defaults.size())) {
            out.put("size", defaults.size());
        }
        if (model.family() == ImageModel.Family.DALL_E_2) {
            // dall-e-2 has a single quality and no style: send neither.
            out.remove("quality");
            out.remove("style");
        } else {
            if (ChatRequestNormalizer.isAbsent(out, "quality")
                    && model.qualities().contains(defaults.quality())) {
                out.put("quality", defaults.quality());
            }
            if (ChatRequestNormalizer.isAbsent(out, "style") && model.styles().contains(defaults.style())) {
                out.put("style", defaults.style());
            }
        }
        if (ChatRequestNormalizer.isAbsent(out, "response_format")
                && model.responseFormats().contains(defaults.responseFormat())) {
            out.put("response_format", defaults.responseFormat());
        }
    }
}
