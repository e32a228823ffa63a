package io.github.openaiproxy.core.session;

/**
 * How the engine uses sessions.
 *
 * @param enabled whether the {@code /sessions} routes exist and {@code sessionId} is accepted on
 *     {@code POST /}; default {@code true}
 * @param historyAsContext whether a chat in a session sends the session's stored history upstream before
 *     the request's own messages, when the request does not say ({@code includeHistory}); default
 *     {@code false}
 * @param contextMessages how many of the latest stored messages are sent as context at most; default 100
 * @param maxMessageSize the most bytes (UTF-8 of the text plus the JSON of multi-part content) one stored
 *     message may have; a new message over it is refused with 413 before the upstream call, an assistant
 *     reply over it is relayed whole and recorded as a short marker; default 1 MiB
 * @param maxSessionSize the bytes a session may hold; once its messages reach it, the session takes no new
 *     turn (413 {@code session_full}, before the upstream call) until it is deleted. A turn under way is
 *     still recorded whole, so a session may end a little above it. Default 16 MiB
 * @param maxPageSize the most message bytes one {@code GET /sessions/{id}/messages} page carries; a page
 *     stops early at it ({@code hasMore} and {@code nextAfter} continue it) but always holds at least one
 *     message; default 1 MiB
 * @param queueSize how many calls of a blocking (JDBC) store may wait for the engine's session threads; a
 *     call beyond is answered 503 {@code session_store_busy} with {@code Retry-After}; default 1000
 */
public record SessionConfig(
        boolean enabled,
        boolean historyAsContext,
        int contextMessages,
        int maxMessageSize,
        long maxSessionSize,
        int maxPageSize,
        int queueSize) {
    /** The default of {@link #maxMessageSize}: 1 MiB. */
    public static final int DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;
    /** The default of {@link #maxSessionSize}: 16 MiB. */
    public static final long DEFAULT_MAX_SESSION_SIZE = 16L * 1024 * 1024;
    /** The default of {@link #maxPageSize}: 1 MiB. */
    public static final int DEFAULT_MAX_PAGE_SIZE = 1024 * 1024;
    /** The default of {@link #queueSize}. */
    public static final int DEFAULT_QUEUE_SIZE = 1000;

    /** Sessions on, history sent only when a request asks for it, at most 100 messages of it. */
    public static final SessionConfig DEFAULTS = new SessionConfig(
            true,
            false,
            100,
            DEFAULT_MAX_MESSAGE_SIZE,
            DEFAULT_MAX_SESSION_SIZE,
            DEFAULT_MAX_PAGE_SIZE,
            DEFAULT_QUEUE_SIZE);

    public SessionConfig {
        if (contextMessages < 1) {
            throw new IllegalArgumentException("sessions.context-messages must be at least 1");
        }
        if (maxMessageSize < 1) {
            throw new IllegalArgumentException("sessions.max-message-size must be positive");
        }
        if (maxSessionSize < 1) {
            throw new IllegalArgumentException("sessions.max-session-size must be positive");
        }
        if (maxPageSize < 1) {
            throw new IllegalArgumentException("sessions.max-page-size must be positive");
        }
        if (queueSize < 1) {
            throw new IllegalArgumentException("sessions.queue-size must be at least 1");
        }
    }

    public SessionConfig withEnabled(boolean enabled) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }

    public SessionConfig withHistoryAsContext(boolean historyAsContext) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }

    public SessionConfig withContextMessages(int contextMessages) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }

    public SessionConfig withMaxMessageSize(int maxMessageSize) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }

    public SessionConfig withMaxSessionSize(long maxSessionSize) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }

    public SessionConfig withMaxPageSize(int maxPageSize) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }

    public SessionConfig withQueueSize(int queueSize) {
        return new SessionConfig(
                enabled, historyAsContext, contextMessages, maxMessageSize, maxSessionSize, maxPageSize, queueSize);
    }
}
