package io.github.openaiproxy.core.normalize;

import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * What OpenAI's image models accept (from OpenAI's API specification), for the models the proxy knows.
 *
 * @param family the model family
 * @param sizes fixed sizes accepted; empty when {@link #freeformSize} decides
 * @param freeformSize whether any {@code WIDTHxHEIGHT} within the model's limits is accepted
 * @param maxN the largest {@code n}
 * @param qualities accepted {@code quality} values
 * @param styles accepted {@code style} values; empty when the model has no style
 * @param responseFormats accepted {@code response_format} values; empty when the model always returns base64
 * @param maxPromptLength the longest prompt in characters
 */
public record ImageModel(
        Family family,
        Set<String> sizes,
        boolean freeformSize,
        int maxN,
        Set<String> qualities,
        Set<String> styles,
        Set<String> responseFormats,
        int maxPromptLength) {

    /** Model families with different rules. */
    public enum Family {
        DALL_E_2,
        DALL_E_3,
        GPT_IMAGE
    }

    /** Parameters only the GPT image models take. */
    public static final Set<String> GPT_IMAGE_ONLY_PARAMS =
            Set.of("background", "output_format", "output_compression", "moderation", "partial_images");

    private static final Set<String> URL_OR_B64 = Set.of("url", "b64_json");

    static final ImageModel DALL_E_2 = new ImageModel(
            Family.DALL_E_2,
            Set.of("256x256", "512x512", "1024x1024"),
            false,
            10,
            // OpenAI's default "auto" is valid for every model; the proxy never sends a dall-e-2 quality.
            Set.of("auto", "standard"),
            Set.of(),
            URL_OR_B64,
            1000);
    static final ImageModel DALL_E_3 = new ImageModel(
            Family.DALL_E_3,
            Set.of("1024x1024", "1792x1024", "1024x1792"),
            false,
            1,
            Set.of("auto", "standard", "hd"),
            Set.of("vivid", "natural"),
            URL_OR_B64,
            4000);
    static final ImageModel GPT_IMAGE_1 = new ImageModel(
            Family.GPT_IMAGE,
            Set.of("auto", "1024x1024", "1536x1024", "1024x1536"),
            false,
            10,
            Set.of("auto", "low", "medium", "high"),
            Set.of(),
            Set.of(),
            32000);
    static final ImageModel GPT_IMAGE_2 = new ImageModel(
            Family.GPT_IMAGE,
            Set.of("auto", "1024x1024", "1536x1024", "1024x1536"),
            true,
            10,
            Set.of("auto", "low", "medium", "high"),
            Set.of(),
            Set.of(),
            32000);

    /** The rules for a model name, or empty for a model the proxy does not know (no model checks then). */
    public static Optional<ImageModel> forName(String model) {
        String m = model.toLowerCase(Locale.ROOT);
        if (m.equals("dall-e-2")) {
            return Optional.of(DALL_E_2);
        }
        if (m.equals("dall-e-3")) {
            return Optional.of(DALL_E_3);
        }
        // The specification's names and their dated snapshots only: a newer model (gpt-image-2.5-flare takes
        // quality xhigh and max) is no gpt-image-2 and goes unchecked, as OpenAI judges it.
        String base = DATED_SNAPSHOT.matcher(m).replaceFirst("");
        if (base.equals("gpt-image-2")) {
            return Optional.of(GPT_IMAGE_2);
        }
        if (base.equals("gpt-image-1") || base.equals("gpt-image-1-mini") || base.equals("gpt-image-1.5")) {
            return Optional.of(GPT_IMAGE_1);
        }
        return Optional.empty();
    }

    private static final java.util.regex.Pattern DATED_SNAPSHOT =
            java.util.regex.Pattern.compile("-\\d{4}-\\d{2}-\\d{2}$");

    /** Whether {@code size} is accepted: a listed size, or for free-form models a valid {@code WIDTHxHEIGHT}. */
    public boolean acceptsSize(String size) {
        if (sizes.contains(size)) {
            return true;
        }
        if (!freeformSize) {
            return false;
        }
        // gpt-image-2: both edges divisible by 16, aspect ratio within 1:3..3:1, at most 3840x2160 pixels.
        java.util.regex.Matcher m =
                java.util.regex.Pattern.compile("(\\d{2,5})x(\\d{2,5})").matcher(size);
        if (!m.matches()) {
            return false;
        }
        long w = Long.parseLong(m.group(1));
        long h = Long.parseLong(m.group(2));
        return w % 16 == 0
                && h % 16 == 0
                && w * 3 >= h
                && h * 3 >= w
                && Math.max(w, h) <= 3840
                && w * h <= 3840L * 2160L;
    }

    /** Human-readable list of accepted sizes for error messages. */
    public String describeSizes() {
        String listed = String.join(", ", new java.util.TreeSet<>(sizes));
        return freeformSize
                ? listed + ", or WIDTHxHEIGHT (multiples of 16, ratio up to 3:1, at most 3840x2160)"
                : listed;
    }
}
