package io.github.openaiproxy.core.session;

import java.util.List;

/**
 * One page of a session's messages, in sequence order.
 *
 * @param messages the messages of the page
 * @param hasMore whether messages follow the last one of this page
 */
public record MessagePage(List<StoredMessage> messages, boolean hasMore) {
    public MessagePage {
        messages = List.copyOf(messages);
    }

    /** The sequence number to pass as {@code after} for the next page (0 for an empty page). */
    public long nextAfter() {
        return messages.isEmpty() ? 0 : messages.get(messages.size() - 1).sequence();
    }
}
