package io.github.openaiproxy.core.session;

/** A store could not do what it was asked (database down, schema problem). */
public final class SessionStoreException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SessionStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
