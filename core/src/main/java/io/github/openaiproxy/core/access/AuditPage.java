package io.github.openaiproxy.core.access;

import java.util.List;

/**
 * One page of an {@link AuditLog}'s entries, newest first ({@link AuditLog#page(Long, int)}).
 *
 * <p>Each entry has a <em>position</em> in its log: a number of at least 1 that the log gives it when it writes
 * it, larger than the position of every entry written before it (not necessarily by one), and never changed nor
 * reused. A page is asked for by position, not by time, so entries written in the same instant still page
 * exactly, and entries written at the head of the log between two pages neither shift nor repeat older ones.
 *
 * @param entries the entries of the page, newest first, at most the limit asked for
 * @param nextBefore the position to pass as {@code before} for the next page (the position of this page's last,
 *     oldest, entry), or {@code null} when no older entry follows
 */
public record AuditPage(List<AuditEntry> entries, Long nextBefore) {
    public AuditPage {
        entries = List.copyOf(entries);
        if (nextBefore != null && (nextBefore < 1 || entries.isEmpty())) {
            throw new IllegalArgumentException("nextBefore must be a position of at least 1, after an entry");
        }
    }

    /** Whether older entries follow this page: ask again with {@link #nextBefore()}. */
    public boolean hasMore() {
        return nextBefore != null;
    }

    /**
     * Checks the arguments of {@link AuditLog#page(Long, int)}.
     *
     * @throws IllegalArgumentException when {@code before} is not {@code null} and below 1, or {@code limit} is
     *     below 1
     */
    public static void check(Long before, int limit) {
        if (before != null && before < 1) {
            throw new IllegalArgumentException("before must be a position of at least 1: " + before);
        }
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be at least 1: " + limit);
        }
    }

    /** {@code limit + 1}, short of overflow: the entries a log reads to tell whether more follow. */
    public static int oneMore(int limit) {
        return ProxyKeyPage.oneMore(limit);
    }

    @Override
    public String toString() {
        return "AuditPage[" + entries.size() + " entries, nextBefore=" + nextBefore + "]";
    }
}
