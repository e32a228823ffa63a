package io.github.openaiproxy.core.usage.ledger;

/** The ledger's store could not be read (the database is down): 503 on the admin API. */
public final class LedgerUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public LedgerUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
