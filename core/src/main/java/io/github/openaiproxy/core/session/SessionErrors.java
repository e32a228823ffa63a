package io.github.openaiproxy.core.session;

import io.github.openaiproxy.core.error.ProxyError;
import java.util.Map;

/** The errors of the session features. */
final class SessionErrors {
    private SessionErrors() {}

    /** 404: the id names no session (never existed, deleted or expired). The id is not echoed. */
    static ProxyError notFound() {
        return new ProxyError(
                404,
                "Session Not Found",
                "No session with this id exists (it may have expired or been deleted)",
                "invalid_request_error",
                "session_not_found",
                "sessionId",
                null,
                Map.of());
    }

    /** 400 for a session field of the wrong type or in the wrong place. */
    static ProxyError invalid(String param, String message) {
        return ProxyError.badRequest("Invalid " + param, message, param);
    }

    /** 503 when the store fails (database down); details go to the log only. */
    static ProxyError unavailable() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The session store is unavailable",
                "server_error",
                "session_store_unavailable",
                null,
                null,
                Map.of());
    }
}
