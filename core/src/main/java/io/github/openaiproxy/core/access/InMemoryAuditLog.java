package io.github.openaiproxy.core.access;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;

/** An {@link AuditLog} in memory: the latest {@value #CAPACITY} entries, lost on restart. */
public final class InMemoryAuditLog implements AuditLog {
    /** The most entries kept; older ones are dropped. */
    public static final int CAPACITY = 10_000;

    private final Deque<AuditEntry> entries = new ArrayDeque<>();

    @Override
    public synchronized void record(AuditEntry entry) {
        Objects.requireNonNull(entry, "entry");
        if (entries.size() == CAPACITY) {
            entries.removeFirst();
        }
        entries.addLast(entry);
    }

    @Override
    public synchronized List<AuditEntry> recent(int limit) {
        List<AuditEntry> out = new ArrayList<>(Math.min(Math.max(limit, 0), entries.size()));
        for (Iterator<AuditEntry> it = entries.descendingIterator(); it.hasNext() && out.size() < limit; ) {
            out.add(it.next());
        }
        return out;
    }
}
