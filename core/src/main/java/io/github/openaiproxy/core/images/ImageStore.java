package io.github.openaiproxy.core.images;

import java.io.InputStream;
import java.net.URI;
import java.time.Instant;
import java.util.Optional;

/**
 * SPI: where generated images are kept so that the proxy's links outlive the upstream's. Core has a
 * {@linkplain FilesystemImageStore filesystem} and a {@linkplain JdbcImageStore JDBC} store; the test kit's
 * {@code ImageStoreContract} says what any store must do.
 *
 * <p>Bytes are streamed in and out, never held whole. Ids are checked with {@link ImageIds#isValid} before any
 * lookup: a malformed id is unknown (or refused by {@link #put}). A store keeps the owner; the engine, not the
 * store, decides who may read. Calls block (disk or database): the engine runs them off the request threads.
 */
public interface ImageStore {
    /**
     * Stores an image under a new id, all or nothing: a reader never sees a half-written image.
     *
     * @param id a new id from {@link ImageIds#newId()}
     * @param contentType its media type ({@code image/png} and the like)
     * @param owner the owner id, or {@code null}
     * @param bytes the image, read to its end (the caller closes it)
     * @param maxSize the most bytes accepted
     * @return what was stored
     * @throws ImageTooLargeException if {@code bytes} is longer than {@code maxSize}: nothing is kept
     * @throws IllegalArgumentException for a malformed id or content type, or an id already stored
     * @throws ImageStoreException if the store fails
     */
    StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize);

    /** The image's metadata, or empty if unknown, malformed or deleted. */
    Optional<StoredImage> find(String id);

    /**
     * Opens {@code length} bytes of the image from {@code offset} (a range inside the image: {@code offset +
     * length <= size}) for streaming; the caller closes the stream. Empty if the image is unknown.
     */
    Optional<InputStream> open(String id, long offset, long length);

    /** Deletes an image; whether it was there. */
    boolean delete(String id);

    /** Deletes every image stored before {@code before}; how many. */
    int deleteExpired(Instant before);

    /**
     * A link the client may read {@code image}'s bytes from itself, valid for a while (a presigned URL of an
     * object store): the proxy then answers {@code GET} with a 302 to it, after its own checks (owner, retention,
     * {@code If-None-Match}), instead of streaming the bytes. Empty, the default: the proxy serves the bytes.
     */
    default Optional<URI> directLink(StoredImage image) {
        return Optional.empty();
    }
}
