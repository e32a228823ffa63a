package io.github.openaiproxy.core.images;

import java.security.SecureRandom;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Image ids ({@code img_} and 192 random bits in URL-safe base64: the id is a capability, so it must not be
 * guessable), their strict check, and the media types images may have with their file extensions.
 */
public final class ImageIds {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Base64.Encoder ENCODER = Base64.getUrlEncoder().withoutPadding();
    /** Exactly what {@link #newId()} makes: anything else is refused before any lookup. */
    private static final Pattern VALID = Pattern.compile("img_[A-Za-z0-9_-]{32}");
    /** The image types the proxy stores and serves, by extension. */
    private static final Map<String, String> TYPES = Map.of(
            "png", "image/png", "jpg", "image/jpeg", "jpeg", "image/jpeg", "webp", "image/webp", "gif", "image/gif");

    private ImageIds() {}

    /** A new id. */
    public static String newId() {
        byte[] b = new byte[24];
        RANDOM.nextBytes(b);
        return "img_" + ENCODER.encodeToString(b);
    }

    /** Whether {@code id} is an id this proxy could have made (checked before any store is asked). */
    public static boolean isValid(String id) {
        return id != null && id.length() == 36 && VALID.matcher(id).matches();
    }

    /** Throws {@link IllegalArgumentException} unless {@link #isValid}. */
    static String check(String id) {
        if (!isValid(id)) {
            throw new IllegalArgumentException("not an image id");
        }
        return id;
    }

    /** The media type of a file extension ({@code png}, {@code jpg}, {@code jpeg}, {@code webp}, {@code gif}). */
    public static Optional<String> contentTypeOf(String extension) {
        return Optional.ofNullable(extension == null ? null : TYPES.get(extension.toLowerCase(Locale.ROOT)));
    }

    /** The file extension of a media type, or empty for a type the proxy does not store. */
    public static Optional<String> extensionOf(String contentType) {
        if (contentType == null) {
            return Optional.empty();
        }
        switch (contentType.toLowerCase(Locale.ROOT)) {
            case "image/png":
                return Optional.of("png");
            case "image/jpeg":
                return Optional.of("jpg");
            case "image/webp":
                return Optional.of("webp");
            case "image/gif":
                return Optional.of("gif");
            default:
                return Optional.empty();
        }
    }
}
