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

    /**
     * This page cut to at most {@code maxBytes} of message {@linkplain StoredMessage#size() size}, never to
     * fewer than one message (so a client always moves on); {@code hasMore} when it was cut.
     */
    public MessagePage capped(long maxBytes) {
        int n = fitting(messages, maxBytes);
        return n == messages.size() ? this : new MessagePage(messages.subList(0, n), true);
    }

    /** How many of the first messages fit in {@code maxBytes}, at least one (if any). */
    static int fitting(List<StoredMessage> messages, long maxBytes) {
        long total = 0;
        for (int i = 0; i < messages.size(); i++) {
            total += messages.get(i).size();
            if (total > maxBytes && i > 0) {
                return i;
            }
        }
        return messages.size();
    }

    /** The sequence number to pass as {@code after} for the next page (0 for an empty page). */
    public long nextAfter() {
        return messages.isEmpty() ? 0 : messages.get(messages.size() - 1).sequence();
    }
}
