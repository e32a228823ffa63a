package io.github.openaiproxy.core.internal;

import java.time.Duration;

/** A request body did not arrive whole within {@code request-body-timeout}. */
public final class BodyTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient Duration timeout;

    public BodyTimeoutException(Duration timeout) {
        super("request body not received within " + timeout.toMillis() + " ms", null, false, false);
        this.timeout = timeout;
    }

    public Duration timeout() {
        return timeout;
    }
}
