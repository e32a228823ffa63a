package io.github.openaiproxy.core.session;

import java.time.Instant;
import java.util.Objects;

/**
 * A message to record in a session; the store gives it its sequence number.
 *
 * @param id the message id, unique (see {@link SessionIds#newMessageId()})
 * @param role {@code user}, {@code assistant}, {@code system}, ...
 * @param content the text of the message (for multi-part content, its text parts)
 * @param contentJson the content as JSON when it was not a plain string (multi-part content); the whole message as a
 *     JSON object when it has more than a role and content (tool calls, a tool call id, a refusal, a name); else
 *     {@code null}
 * @param timestamp when the message was sent (user) or received (assistant), at millisecond precision
 */
public record NewMessage(String id, String role, String content, String contentJson, Instant timestamp) {
    /** The longest role kept (the JDBC store's column): roles are words such as {@code assistant}. */
    public static final int MAX_ROLE = 32;

    public NewMessage {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(timestamp, "timestamp");
        // A client chooses it, and the size caps count the content only: a role of 50 KB is kept as its first 32
        // characters, so it neither grows a session past them nor fails the JDBC store's row.
        if (role.length() > MAX_ROLE) {
            int end = Character.isHighSurrogate(role.charAt(MAX_ROLE - 1)) ? MAX_ROLE - 1 : MAX_ROLE;
            role = role.substring(0, end);
        }
    }

    /** Its size as the session limits count it: UTF-8 bytes of the text plus those of the JSON content. */
    public long size() {
        return utf8Length(content) + (contentJson == null ? 0 : utf8Length(contentJson));
    }

    /** The UTF-8 length of a string, without encoding it. */
    static long utf8Length(String s) {
        long n = s.length();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x800) {
                // Three bytes, or four for a surrogate pair (two chars, two bytes counted each).
                n += Character.isSurrogate(c) ? 1 : 2;
            } else if (c >= 0x80) {
                n += 1;
            }
        }
        return n;
    }
}
