package io.github.openaiproxy.core.internal;

/** A request body went over the configured limit. */
public final class BodyTooLargeException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final long limit;

    public BodyTooLargeException(long limit) {
        super("request body exceeds " + limit + " bytes", null, false, false);
        this.limit = limit;
    }

    public long limit() {
        return limit;
    }
}
