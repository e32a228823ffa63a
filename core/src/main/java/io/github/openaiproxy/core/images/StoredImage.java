package io.github.openaiproxy.core.images;

import java.time.Instant;
import java.util.Objects;

/**
 * What a store knows about one image.
 *
 * @param id the image id ({@link ImageIds})
 * @param contentType its media type, such as {@code image/png}
 * @param size its length in bytes
 * @param sha256 the SHA-256 of its bytes, lower-case hex
 * @param owner the {@code Identity.ownerId()} it belongs to, or {@code null}: then the id is the capability
 * @param createdAt when it was stored
 */
public record StoredImage(String id, String contentType, long size, String sha256, String owner, Instant createdAt) {
    public StoredImage {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(contentType, "contentType");
        Objects.requireNonNull(sha256, "sha256");
        Objects.requireNonNull(createdAt, "createdAt");
    }

    /** The strong HTTP entity tag: the quoted SHA-256 (the bytes of an id never change). */
    public String etag() {
        return "\"" + sha256 + "\"";
    }
}
