package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.internal.Internal;

/**
 * Tells image requests from chat requests on {@code POST /}: an image when {@code action} is
 * {@code "generate-image"}, or when {@code prompt} is present and {@code messages} is absent. A field
 * set to {@code null} is absent, as for the defaults.
 */
@Internal
public final class ImageActionDetector {
    /** The value of {@code action} that asks for an image. */
    public static final String GENERATE_IMAGE = "generate-image";

    private ImageActionDetector() {}

    public static boolean isImageRequest(ObjectNode body) {
        JsonNode action = body.get("action");
        if (action != null && action.isTextual() && GENERATE_IMAGE.equals(action.textValue())) {
            return true;
        }
        // A field set to null counts as absent, as everywhere in normalization (and as in the seed's JS).
        return !ChatRequestNormalizer.isAbsent(body, "prompt") && ChatRequestNormalizer.isAbsent(body, "messages");
    }
}
