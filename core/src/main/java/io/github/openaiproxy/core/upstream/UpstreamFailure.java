package io.github.openaiproxy.core.upstream;

/** The upstream could not be called: unreachable, or too slow. Messages never carry request data. */
public final class UpstreamFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why the call failed. */
    public enum Kind {
        /** Connection refused, reset, DNS failure, TLS failure. */
        UNREACHABLE,
        /**
         * No connection or no response headers within the configured time, or a connection silent for longer than
         * its idle timeout (the answer's headers in or not).
         */
        TIMEOUT
    }

    /**
     * The message of a {@link Kind#TIMEOUT} whose connection went silent, as opposed to one that never connected:
     * relayed as the proxy's own stream idle timeout is.
     */
    public static final String IDLE = "the upstream connection was idle for longer than its idle timeout";

    private final Kind kind;
    private final boolean requestSent;

    /** A failure before the request reached the upstream ({@link #requestSent()} is false). */
    public UpstreamFailure(Kind kind, String message, Throwable cause) {
        this(kind, message, cause, false);
    }

    /**
     * @param requestSent whether the upstream had the whole request when the call failed (the response headers did
     *     not come in time): it works on it, and bills it, all the same
     */
    public UpstreamFailure(Kind kind, String message, Throwable cause, boolean requestSent) {
        super(message, cause);
        this.kind = kind;
        this.requestSent = requestSent;
    }

    /** A {@link Kind#TIMEOUT} waiting for the response headers of a request the upstream has. */
    public static UpstreamFailure noAnswerInTime(Throwable cause) {
        return new UpstreamFailure(Kind.TIMEOUT, "no response headers in time", cause, true);
    }

    public Kind kind() {
        return kind;
    }

    /** Whether {@code failure} is a {@link Kind#TIMEOUT}: answered as the proxy's own timeouts are. */
    public static boolean isTimeout(Throwable failure) {
        return failure instanceof UpstreamFailure f && f.kind == Kind.TIMEOUT;
    }

    /**
     * Whether the upstream had the request when the call failed (no answer within {@code response-timeout}), as
     * opposed to a call that never reached it (refused, no connection in time): the proxy charges the former its
     * estimated input.
     */
    public boolean requestSent() {
        return requestSent;
    }
}
