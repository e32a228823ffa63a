package io.github.openaiproxy.core.session;

import java.time.Instant;
import java.util.Objects;

/**
 * A message recorded in a session.
 *
 * @param id the message id
 * @param sessionId the session it belongs to
 * @param sequence its position in the session: 1, 2, 3, ... in the order the store recorded the messages
 * @param role {@code user}, {@code assistant}, {@code system}, ...
 * @param content the text of the message
 * @param contentJson the content as JSON when it was not a plain string; the whole message as a JSON object when it
 *     had more than a role and content (tool calls, a tool call id, a refusal, a name); else {@code null}
 * @param timestamp when the message was sent (user) or received (assistant)
 */
public record StoredMessage(
        String id,
        String sessionId,
        long sequence,
        String role,
        String content,
        String contentJson,
        Instant timestamp) {
    public StoredMessage {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(sessionId, "sessionId");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(timestamp, "timestamp");
    }

    /** Whether a person wrote it ({@code role} is {@code user}). */
    public boolean isUser() {
        return "user".equals(role);
    }

    /** Its size as the session limits count it (see {@link NewMessage#size()}). */
    public long size() {
        return NewMessage.utf8Length(content) + (contentJson == null ? 0 : NewMessage.utf8Length(contentJson));
    }

    static StoredMessage of(String sessionId, long sequence, NewMessage m) {
        return new StoredMessage(m.id(), sessionId, sequence, m.role(), m.content(), m.contentJson(), m.timestamp());
    }
}
