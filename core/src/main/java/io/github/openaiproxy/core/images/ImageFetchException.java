package io.github.openaiproxy.core.images;

/** An upstream image link was not fetched: not allowed, not an image, too large, too slow or failed. */
final class ImageFetchException extends ImageStoreException {
    private static final long serialVersionUID = 1L;

    ImageFetchException(String message) {
        super(message);
    }

    ImageFetchException(String message, Throwable cause) {
        super(message, cause);
    }
}
