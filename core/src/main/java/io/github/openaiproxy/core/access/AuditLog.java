package io.github.openaiproxy.core.access;

import java.util.List;

/**
 * SPI: where admin changes are written ({@link AuditEntry}): in memory, or an audit table
 * ({@link io.github.openaiproxy.core.access.jdbc.JdbcAuditLog}). Calls may block; the admin API makes them off
 * the request threads.
 */
public interface AuditLog {
    /** Writes one entry; a failure is an exception, and the admin call that made the change reports it. */
    void record(AuditEntry entry);

    /** The latest entries, newest first, at most {@code limit}. */
    List<AuditEntry> recent(int limit);

    /**
     * At most {@code limit} entries, newest first, of those whose {@linkplain AuditPage position} is below
     * {@code before} (from the newest when {@code before} is {@code null}), and where the next page begins. Walked
     * from {@code null} with each page's {@link AuditPage#nextBefore()}, it answers every entry written before the
     * first page exactly once, down to the oldest the log keeps, whatever is written meanwhile; an entry written
     * after the first page was read is newer than it, so not answered. {@code before} need not be the position of
     * a kept entry: one above the newest answers from the newest, one at or below the oldest answers nothing.
     *
     * <p>The default numbers the entries of {@link #recent(int) recent(Integer.MAX_VALUE)}, every entry, from the
     * oldest: exact only for a log that never drops its oldest entries, and a read of all of them per page. A log
     * that may hold many entries should answer it with a bounded query on a position it stores, as the in-memory
     * and JDBC logs do, and a log that wraps another should pass it on.
     *
     * @param before {@code null}, or a page's {@link AuditPage#nextBefore()}: a position of at least 1
     * @param limit the most entries answered, at least 1
     * @throws IllegalArgumentException for a {@code before} below 1, or a {@code limit} below 1
     */
    default AuditPage page(Long before, int limit) {
        AuditPage.check(before, limit);
        List<AuditEntry> all = recent(Integer.MAX_VALUE);
        // The oldest entry is position 1, the newest all.size(): appending at the head moves none of them.
        long newest = all.size();
        long first = before == null ? newest : Math.min(before - 1, newest);
        if (first < 1) {
            return new AuditPage(List.of(), null);
        }
        int from = (int) (newest - first);
        int to = (int) Math.min(all.size(), (long) from + limit);
        return new AuditPage(all.subList(from, to), to < all.size() ? newest - (to - 1) : null);
    }

    /** A log kept in memory (the latest {@link InMemoryAuditLog#CAPACITY} entries). */
    static AuditLog inMemory() {
        return new InMemoryAuditLog();
    }
}
