package io.github.openaiproxy.core.images;

/** An image was longer than the size cap it was stored with; nothing was kept. */
public final class ImageTooLargeException extends ImageStoreException {
    private static final long serialVersionUID = 1L;

    public ImageTooLargeException(long maxSize) {
        super("image larger than " + maxSize + " bytes");
    }
}
