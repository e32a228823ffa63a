package io.github.openaiproxy.core.access;

/** A key, policy or audit store failed (its database is down, for example). The message never holds a key. */
public final class AccessStoreException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public AccessStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
