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

    public UpstreamFailure(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    /** Whether {@code failure} is a {@link Kind#TIMEOUT}: answered as the proxy's own timeouts are. */
    public static boolean isTimeout(Throwable failure) {
        return failure instanceof UpstreamFailure f && f.kind == Kind.TIMEOUT;
    }
}
