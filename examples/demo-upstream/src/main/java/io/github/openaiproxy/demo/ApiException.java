package io.github.openaiproxy.demo;

/** Ends the handling of a request with an {@link ApiError}; carries no stack trace, since it is no bug. */
final class ApiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient ApiError error;

    ApiException(ApiError error) {
        super(error.message(), null, false, false);
        this.error = error;
    }

    ApiError error() {
        return error;
    }
}
