package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Instant;
import java.util.List;

/**
 * Where a {@link BatchingUsageLedger} writes: called on the ledger's own thread only, one call at a time, so an
 * implementation may block (a database transaction) and needs no locking of its own.
 */
public interface UsageSink {
    /** Writes one batch, all of it or none of it (a failed batch is retried, then counted as lost). */
    void write(List<UsageRecord> batch) throws Exception;

    /** Deletes what is older than {@code cutoff}, in bounded steps. */
    default void purge(Instant cutoff) throws Exception {}
}
