package io.github.openaiproxy.core.upstream;

/** The upstream could not be called: unreachable, or too slow. Messages never carry request data. */
public final class UpstreamFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why the call failed. */
    public enum Kind {
        /** Connection refused, reset, DNS failure, TLS failure. */
        UNREACHABLE,
        /** No connection or no response headers within the configured time. */
        TIMEOUT
    }

    private final Kind kind;

    public UpstreamFailure(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
