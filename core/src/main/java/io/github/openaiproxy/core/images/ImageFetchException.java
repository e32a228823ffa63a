package io.github.openaiproxy.core.images;

/**
 * An upstream image link was not fetched, or what it served not stored: not allowed, not an image, too large,
 * too slow or failed. Carries a {@link #reason()} from a small fixed set, for the metrics.
 */
final class ImageFetchException extends ImageStoreException {
    private static final long serialVersionUID = 1L;

    /** A link, or a redirect, to a host not on {@code images.fetch-hosts}. */
    static final String REFUSED_HOST = "fetch_refused_host";
    /** Not a link, or a redirect without a usable {@code Location}. */
    static final String BAD_LINK = "fetch_bad_link";
    /** The link took longer than {@code images.fetch-timeout}. */
    static final String TIMEOUT = "fetch_timeout";
    /** The connection failed, the link answered other than 200, or redirected too often. */
    static final String FAILED = "fetch_failed";
    /** Not a PNG, JPEG, WebP or GIF image of the declared type. */
    static final String NOT_AN_IMAGE = "not_an_image";
    /** Larger than the size cap. */
    static final String TOO_LARGE = "too_large";

    private final String reason;

    ImageFetchException(String reason, String message) {
        super(message);
        this.reason = reason;
    }

    ImageFetchException(String reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    /** Why, as a metric tag. */
    String reason() {
        return reason;
    }
}
