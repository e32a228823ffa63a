package io.github.openaiproxy.core.admin;

/**
 * An admin call refused: the HTTP status it answers, a stable code and a message for humans (which never holds
 * a key or a hash).
 */
public final class AdminException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;
    private final String param;

    public AdminException(int status, String code, String message) {
        this(status, code, message, null);
    }

    /** A refusal of one parameter, which the error's {@code param} names. */
    public AdminException(int status, String code, String message, String param) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.param = param;
    }

    /** The parameter at fault, or {@code null}. */
    public String param() {
        return param;
    }

    /** The HTTP status: 400, 404 or 409. */
    public int status() {
        return status;
    }

    /** A stable machine-readable code, for example {@code key_not_found}. */
    public String code() {
        return code;
    }

    static AdminException invalid(String message) {
        return new AdminException(400, "invalid_request", message);
    }

    static AdminException keyNotFound() {
        return new AdminException(404, "key_not_found", "No proxy key with this id exists");
    }

    static AdminException policyNotFound() {
        return new AdminException(404, "policy_not_found", "No stored policy with this name exists");
    }

    static AdminException imageNotFound() {
        return new AdminException(404, "image_not_found", "No stored image with this id exists");
    }

    static AdminException conflict(String code, String message) {
        return new AdminException(409, code, message);
    }
}
