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

    /** 413 for a new message over {@code sessions.max-message-size}: refused before any upstream call. */
    static ProxyError messageTooLarge(long limit) {
        return new ProxyError(
                413,
                "Payload Too Large",
                "A message exceeds the limit of " + limit + " bytes for a message stored in a session",
                "invalid_request_error",
                "session_message_too_large",
                "messages",
                null,
                Map.of());
    }

    /** 413 for a turn that would record more than {@code limit} messages, before any upstream call. */
    static ProxyError turnTooLarge(int limit) {
        return new ProxyError(
                413,
                "Payload Too Large",
                "A turn records at most " + limit
                        + " messages in a session (those after the last assistant message): send fewer",
                "invalid_request_error",
                "session_turn_too_large",
                "messages",
                null,
                Map.of());
    }

    /**
     * 413 for a turn in a session that holds {@code sessions.max-session-size} bytes: it takes no new
     * messages (nothing of it is dropped), before any upstream call.
     */
    static ProxyError full(long limit) {
        return new ProxyError(
                413,
                "Session Full",
                "This session holds its limit of " + limit
                        + " bytes and takes no new messages: start a new session (or delete this one)",
                "invalid_request_error",
                "session_full",
                "sessionId",
                null,
                Map.of());
    }

    /** 503 with {@code Retry-After} when the calls waiting for the store fill its queue. */
    static ProxyError busy() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The session store is busy; retry shortly",
                "server_error",
                "session_store_busy",
                null,
                null,
                Map.of("Retry-After", Integer.toString(RETRY_AFTER_SECONDS)));
    }

    /** What a busy answer asks the client to wait, in seconds. */
    static final int RETRY_AFTER_SECONDS = 1;
}
