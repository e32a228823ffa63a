package io.github.openaiproxy.core.normalize;

import java.util.Objects;

/**
 * Defaults for image bodies on the simple routes. Each is applied only when the field is absent or
 * {@code null} and the chosen model accepts the value (so {@code quality=standard} is not added for a
 * GPT image model, and nothing model-specific is added for a model the proxy does not know).
 *
 * @param model default {@code dall-e-3}
 * @param n default 1
 * @param size default {@code 1024x1024}
 * @param quality default {@code standard}
 * @param style default {@code vivid}
 * @param responseFormat default {@code url}
 */
public record ImageDefaults(String model, int n, String size, String quality, String style, String responseFormat) {
    public static final ImageDefaults DEFAULTS =
            new ImageDefaults("dall-e-3", 1, "1024x1024", "standard", "vivid", "url");

    public ImageDefaults {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(size, "size");
        Objects.requireNonNull(quality, "quality");
        Objects.requireNonNull(style, "style");
        Objects.requireNonNull(responseFormat, "responseFormat");
        if (model.isBlank()) {
            throw new IllegalArgumentException("image default model must not be blank");
        }
        if (n < 1 || n > 10) {
            throw new IllegalArgumentException("image default n must be between 1 and 10");
        }
    }

    public ImageDefaults withModel(String model) {
        return new ImageDefaults(model, n, size, quality, style, responseFormat);
    }

    public ImageDefaults withN(int n) {
        return new ImageDefaults(model, n, size, quality, style, responseFormat);
    }

    public ImageDefaults withSize(String size) {
        return new ImageDefaults(model, n, size, quality, style, responseFormat);
    }

    public ImageDefaults withQuality(String quality) {
        return new ImageDefaults(model, n, size, quality, style, responseFormat);
    }

    public ImageDefaults withStyle(String style) {
        return new ImageDefaults(model, n, size, quality, style, responseFormat);
    }

    public ImageDefaults withResponseFormat(String responseFormat) {
        return new ImageDefaults(model, n, size, quality, style, responseFormat);
    }
}
