package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;

/**
 * The ledger in memory ({@code ledger.store=memory}), for tests and single instances that need no history after
 * a restart: the latest {@code maxRows} rows within the retention, the oldest dropped first. {@link #record} takes
 * a short lock and does no I/O; queries scan the rows.
 */
public final class InMemoryUsageLedger implements UsageLedger, UsageQueries {
    /** The rows kept by default. */
    public static final int DEFAULT_MAX_ROWS = 100_000;

    private final ArrayDeque<UsageRecord> rows = new ArrayDeque<>();
    private final int maxRows;
    private final Duration retention;
    private final Clock clock;

    /**
     * @param maxRows the most rows kept
     * @param retention how long a row is kept
     * @param clock the time retention is judged by
     */
    public InMemoryUsageLedger(int maxRows, Duration retention, Clock clock) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive");
        }
        this.maxRows = maxRows;
        this.retention = Objects.requireNonNull(retention, "retention");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** A ledger of {@value #DEFAULT_MAX_ROWS} rows kept for {@code config}'s retention. */
    public static InMemoryUsageLedger of(LedgerConfig config, Clock clock) {
        return new InMemoryUsageLedger(DEFAULT_MAX_ROWS, config.retention(), clock);
    }

    @Override
    public void record(UsageRecord record) {
        Objects.requireNonNull(record, "record");
        synchronized (rows) {
            rows.addLast(record);
            if (rows.size() > maxRows) {
                rows.removeFirst();
            }
        }
    }

    /** The rows kept now, oldest first. */
    public List<UsageRecord> rows() {
        purge();
        synchronized (rows) {
            return List.copyOf(rows);
        }
    }

    @Override
    public List<UsageSummary> summarize(UsageQuery query) {
        List<UsageRecord> copy = rows();
        LedgerRows.Sums sums = new LedgerRows.Sums();
        for (UsageRecord r : copy) {
            if (LedgerRows.matches(r, query)) {
                sums.add(LedgerRows.summary(r, LedgerRows.group(r, query.by())));
            }
        }
        return sums.answer(query);
    }

    private void purge() {
        Instant cutoff = clock.instant().minus(retention);
        synchronized (rows) {
            rows.removeIf(r -> r.at().isBefore(cutoff));
        }
    }

    /** Removes nothing else: the rows are gone with the ledger. */
    @Override
    public void close() {}
}
