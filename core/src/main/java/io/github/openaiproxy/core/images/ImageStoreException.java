package io.github.openaiproxy.core.images;

/** A store could not do what it was asked (disk full, database down, schema problem). */
public class ImageStoreException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ImageStoreException(String message, Throwable cause) {
        super(message, cause);
    }

    public ImageStoreException(String message) {
        super(message);
    }
}
