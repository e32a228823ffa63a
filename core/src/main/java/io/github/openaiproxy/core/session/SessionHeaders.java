package io.github.openaiproxy.core.session;

/** The response headers with which a chat reply says where the session recorded it. */
public final class SessionHeaders {
    /** The id of the recorded reply message. */
    public static final String MESSAGE_ID = "X-OpenAI-Proxy-Message-Id";

    /** When the reply message was recorded (ISO-8601). */
    public static final String MESSAGE_TIMESTAMP = "X-OpenAI-Proxy-Message-Timestamp";

    private SessionHeaders() {}
}
