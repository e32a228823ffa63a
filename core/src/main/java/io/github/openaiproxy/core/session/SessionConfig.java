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
 */
public record SessionConfig(boolean enabled, boolean historyAsContext, int contextMessages) {
    /** Sessions on, history sent only when a request asks for it, at most 100 messages of it. */
    public static final SessionConfig DEFAULTS = new SessionConfig(true, false, 100);

    public SessionConfig {
        if (contextMessages < 1) {
            throw new IllegalArgumentException("sessions.context-messages must be at least 1");
        }
    }

    public SessionConfig withEnabled(boolean enabled) {
        return new SessionConfig(enabled, historyAsContext, contextMessages);
    }

    public SessionConfig withHistoryAsContext(boolean historyAsContext) {
        return new SessionConfig(enabled, historyAsContext, contextMessages);
    }

    public SessionConfig withContextMessages(int contextMessages) {
        return new SessionConfig(enabled, historyAsContext, contextMessages);
    }
}
