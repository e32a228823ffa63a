package io.github.openaiproxy.core.session;

import java.time.Instant;
import java.util.Objects;

/**
 * A message to record in a session; the store gives it its sequence number.
 *
 * @param id the message id, unique (see {@link SessionIds#newMessageId()})
 * @param role {@code user}, {@code assistant}, {@code system}, ...
 * @param content the text of the message (for multi-part content, its text parts)
 * @param contentJson the content as JSON when it was not a plain string (multi-part content), else {@code null}
 * @param timestamp when the message was sent (user) or received (assistant), at millisecond precision
 */
public record NewMessage(String id, String role, String content, String contentJson, Instant timestamp) {
    public NewMessage {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(timestamp, "timestamp");
    }
}
