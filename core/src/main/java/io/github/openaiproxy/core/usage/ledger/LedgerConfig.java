package io.github.openaiproxy.core.usage.ledger;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How the usage ledger is kept (settings {@code ledger.*}).
 *
 * @param store where: {@link Store#NONE} (the default: nothing is kept), {@link Store#MEMORY} or {@link Store#JDBC}
 * @param retention how long rows (and daily rollups) are kept; default 90 days
 * @param queueSize the most records waiting to be written; beyond it records are dropped and counted
 * @param batchSize the most records written in one transaction
 * @param flushInterval the longest a record waits in the queue before its batch is written
 * @param queryTimeout the longest a summary of a {@link BatchingUsageLedger} (the admin API's, GraphQL's) may read
 *     before it is cancelled ({@link LedgerTimeoutException}); whole seconds from 1 s to 1 h, default 30 s
 */
public record LedgerConfig(
        Store store, Duration retention, int queueSize, int batchSize, Duration flushInterval, Duration queryTimeout) {
    /** Where the ledger is kept. */
    public enum Store {
        /** Not kept. */
        NONE,
        /** In memory, bounded, lost on restart ({@link InMemoryUsageLedger}). */
        MEMORY,
        /** In the database ({@link JdbcUsageStore} behind a {@link BatchingUsageLedger}). */
        JDBC;

        /** The store named {@code none}, {@code memory} or {@code jdbc}. */
        public static Store parse(String name) {
            try {
                return valueOf(name.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("ledger.store must be none, memory or jdbc: " + name);
            }
        }
    }

    /** The default of {@link #retention}. */
    public static final Duration DEFAULT_RETENTION = Duration.ofDays(90);
    /** The default of {@link #queueSize}. */
    public static final int DEFAULT_QUEUE_SIZE = 10_000;
    /** The default of {@link #batchSize}. */
    public static final int DEFAULT_BATCH_SIZE = 500;
    /** The default of {@link #flushInterval}. */
    public static final Duration DEFAULT_FLUSH_INTERVAL = Duration.ofSeconds(1);
    /** The default of {@link #queryTimeout}. */
    public static final Duration DEFAULT_QUERY_TIMEOUT = Duration.ofSeconds(30);

    /** No ledger. */
    public static final LedgerConfig DEFAULTS = new LedgerConfig(
            Store.NONE,
            DEFAULT_RETENTION,
            DEFAULT_QUEUE_SIZE,
            DEFAULT_BATCH_SIZE,
            DEFAULT_FLUSH_INTERVAL,
            DEFAULT_QUERY_TIMEOUT);

    public LedgerConfig {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(retention, "retention");
        Objects.requireNonNull(flushInterval, "flushInterval");
        Objects.requireNonNull(queryTimeout, "queryTimeout");
        if (retention.isNegative() || retention.isZero()) {
            throw new IllegalArgumentException("ledger.retention must be positive");
        }
        if (queueSize < 1 || queueSize > 10_000_000) {
            throw new IllegalArgumentException("ledger.queue-size must be from 1 to 10000000");
        }
        if (batchSize < 1 || batchSize > 100_000) {
            throw new IllegalArgumentException("ledger.batch-size must be from 1 to 100000");
        }
        if (flushInterval.isNegative() || flushInterval.isZero() || flushInterval.compareTo(Duration.ofHours(1)) > 0) {
            throw new IllegalArgumentException("ledger.flush-interval must be positive, at most 1h");
        }
        // JDBC counts a statement's timeout in whole seconds, 0 being none.
        if (queryTimeout.compareTo(Duration.ofSeconds(1)) < 0 || queryTimeout.compareTo(Duration.ofHours(1)) > 0) {
            throw new IllegalArgumentException("ledger.query-timeout must be from 1s to 1h");
        }
    }

    /** A configuration with the default {@link #queryTimeout}, as before it was a setting. */
    public LedgerConfig(Store store, Duration retention, int queueSize, int batchSize, Duration flushInterval) {
        this(store, retention, queueSize, batchSize, flushInterval, DEFAULT_QUERY_TIMEOUT);
    }

    /** Whether usage is kept. */
    public boolean enabled() {
        return store != Store.NONE;
    }

    public LedgerConfig withStore(Store store) {
        return new LedgerConfig(store, retention, queueSize, batchSize, flushInterval, queryTimeout);
    }

    public LedgerConfig withRetention(Duration retention) {
        return new LedgerConfig(store, retention, queueSize, batchSize, flushInterval, queryTimeout);
    }

    public LedgerConfig withQueueSize(int queueSize) {
        return new LedgerConfig(store, retention, queueSize, batchSize, flushInterval, queryTimeout);
    }

    public LedgerConfig withBatchSize(int batchSize) {
        return new LedgerConfig(store, retention, queueSize, batchSize, flushInterval, queryTimeout);
    }

    public LedgerConfig withFlushInterval(Duration flushInterval) {
        return new LedgerConfig(store, retention, queueSize, batchSize, flushInterval, queryTimeout);
    }

    public LedgerConfig withQueryTimeout(Duration queryTimeout) {
        return new LedgerConfig(store, retention, queueSize, batchSize, flushInterval, queryTimeout);
    }
}
