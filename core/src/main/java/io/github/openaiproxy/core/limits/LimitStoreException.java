package io.github.openaiproxy.core.limits;

/** The store could not be reached or failed; what the request gets then is a per-kind setting. */
public class LimitStoreException extends RuntimeException {
    public LimitStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
