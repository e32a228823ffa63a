package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Tells image requests from chat requests on {@code POST /}: an image when {@code action} is
 * {@code "generate-image"}, or when {@code prompt} is present and {@code messages} is absent.
 */
public final class ImageActionDetector {
    /** The value of {@code action} that asks for an image. */
    public static final String GENERATE_IMAGE = "generate-image";

    private ImageActionDetector() {}

    public static boolean isImageRequest(ObjectNode body) {
        JsonNode action = body.get("action");
        if (action != null && action.isTextual() && GENERATE_IMAGE.equals(action.textValue())) {
            return true;
        }
        return body.has("prompt") && !body.has("messages");
    }
}
