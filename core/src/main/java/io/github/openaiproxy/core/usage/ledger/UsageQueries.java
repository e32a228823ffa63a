package io.github.openaiproxy.core.usage.ledger;

import java.util.List;

/**
 * Usage summed from the ledger. Every ledger that keeps rows answers these (in memory, JDBC); calls may block on
 * a database: make them off request threads.
 */
public interface UsageQueries {
    /**
     * The rows of {@code query}: one per value of its grouping, in its order (days ascending; otherwise by cost,
     * then tokens, descending), at most {@link UsageQuery#limit()} of them.
     */
    List<UsageSummary> summarize(UsageQuery query);

    /**
     * {@link #summarize(UsageQuery)}, cancelled after {@code timeout} with a {@link LedgerTimeoutException} where the
     * store can cancel a read (JDBC); others ignore it.
     */
    default List<UsageSummary> summarize(UsageQuery query, java.time.Duration timeout) {
        return summarize(query);
    }
}
