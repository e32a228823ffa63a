package io.github.openaiproxy.core.usage;

/**
 * SPI: where usage records go. {@link #record} is called on relay threads once per request that reached the
 * upstream, so it must not block: implementations queue and write elsewhere (core's JDBC ledger writes
 * batches from a bounded queue on its own thread). {@link #close} flushes what was queued.
 */
public interface UsageLedger extends AutoCloseable {
    /** A ledger that keeps nothing. */
    UsageLedger NONE = r -> {};

    /** Takes one record; never blocks. */
    void record(UsageRecord record);

    /** Flushes what was queued and stops. */
    @Override
    default void close() {}
}
