package io.github.openaiproxy.core.usage.ledger;

import java.time.Duration;
import java.util.Objects;

/**
 * A summary of the ledger read longer than it may ({@code ledger.query-timeout}, {@link LedgerConfig#queryTimeout()})
 * and was cancelled, so that it holds no database connection past that: 503 {@code ledger_timeout} on the admin API. A
 * shorter range, or one key or identity, reads less.
 */
public final class LedgerTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final Duration timeout;

    public LedgerTimeoutException(Duration timeout, Throwable cause) {
        super(
                "the usage summary read longer than "
                        + Objects.requireNonNull(timeout, "timeout").toSeconds()
                        + "s and was cancelled: ask for a shorter range, or for one key or identity",
                cause);
        this.timeout = timeout;
    }

    /** How long the summary was allowed to read. */
    public Duration timeout() {
        return timeout;
    }
}
