package io.github.openaiproxy.core.access;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * An {@link AuditLog} in memory: the latest {@value #CAPACITY} entries, lost on restart. The n-th entry written
 * has the {@linkplain AuditPage position} n; a page reads from its place on, never every entry.
 */
public final class InMemoryAuditLog implements AuditLog {
    /** The most entries kept; older ones are dropped. */
    public static final int CAPACITY = 10_000;

    /** The entry of position p is at {@code (p - 1) % CAPACITY} while it is kept. */
    private final AuditEntry[] ring = new AuditEntry[CAPACITY];
    /** The position the next entry gets; {@code next - 1} entries were written. */
    private long next = 1;

    @Override
    public synchronized void record(AuditEntry entry) {
        Objects.requireNonNull(entry, "entry");
        ring[(int) ((next - 1) % CAPACITY)] = entry;
        next++;
    }

    @Override
    public List<AuditEntry> recent(int limit) {
        return limit < 1 ? List.of() : page(null, limit).entries();
    }

    @Override
    public synchronized AuditPage page(Long before, int limit) {
        AuditPage.check(before, limit);
        long oldest = Math.max(1, next - CAPACITY);
        long from = before == null ? next - 1 : Math.min(before - 1, next - 1);
        List<AuditEntry> out = new ArrayList<>((int) Math.min(limit, Math.max(0, from - oldest + 1)));
        long p = from;
        for (; p >= oldest && out.size() < limit; p--) {
            out.add(ring[(int) ((p - 1) % CAPACITY)]);
        }
        // p + 1 is the position of the last entry answered; p, if kept, is older.
        return new AuditPage(out, !out.isEmpty() && p >= oldest ? p + 1 : null);
    }
}
