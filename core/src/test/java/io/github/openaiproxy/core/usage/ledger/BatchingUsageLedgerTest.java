package io.github.openaiproxy.core.usage.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The batching ledger: batches, the final flush, overflow without blocking, retries and the retention purge. */
class BatchingUsageLedgerTest {
    static UsageRecord record(int i) {
        return new UsageRecord(
                Instant.parse("2026-01-01T00:00:00Z").plusSeconds(i),
                "PROXY_KEY",
                "key_" + i,
                "key_" + i,
                null,
                "keys",
                "/v1/chat/completions",
                "gpt-4o",
                "gpt-4o",
                "default",
                200,
                200,
                new TokenUsage(i, 0, 1, 0, 0),
                0,
                false,
                false,
                UsageRecord.Outcome.COMPLETED,
                1,
                -1,
                null);
    }

    /** A sink that keeps the batches it was given, optionally held until released. */
    static final class Sink implements UsageSink {
        final List<List<UsageRecord>> batches = new CopyOnWriteArrayList<>();
        final List<Instant> purges = new CopyOnWriteArrayList<>();
        final CountDownLatch release;
        final CountDownLatch entered = new CountDownLatch(1);
        final AtomicInteger failuresLeft;

        Sink(boolean held, int failures) {
            this.release = new CountDownLatch(held ? 1 : 0);
            this.failuresLeft = new AtomicInteger(failures);
        }

        @Override
        public void write(List<UsageRecord> batch) throws Exception {
            entered.countDown();
            release.await();
            if (failuresLeft.getAndDecrement() > 0) {
                throw new java.sql.SQLException("database down");
            }
            batches.add(batch);
        }

        @Override
        public void purge(Instant cutoff) {
            purges.add(cutoff);
        }

        List<UsageRecord> all() {
            List<UsageRecord> all = new ArrayList<>();
            batches.forEach(all::addAll);
            return all;
        }
    }

    private static LedgerConfig config(int queue, int batch, Duration flush) {
        return LedgerConfig.DEFAULTS
                .withStore(LedgerConfig.Store.JDBC)
                .withQueueSize(queue)
                .withBatchSize(batch)
                .withFlushInterval(flush);
    }

    @Test
    void recordsAreWrittenInBatchesOfAtMostTheBatchSizeAndCloseWritesTheRest() {
        Sink sink = new Sink(false, 0);
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(10_000, 100, Duration.ofMinutes(30)), Duration.ofDays(1), Clock.systemUTC());
        for (int i = 0; i < 1050; i++) {
            ledger.record(record(i));
        }
        assertThat(ledger.close(Duration.ofSeconds(30))).isTrue();
        assertThat(sink.all())
                .hasSize(1050)
                .isEqualTo(java.util.stream.IntStream.range(0, 1050)
                        .mapToObj(BatchingUsageLedgerTest::record)
                        .toList());
        assertThat(sink.batches).allSatisfy(b -> assertThat(b).hasSizeLessThanOrEqualTo(100));
        // 10 full batches at least; the flush interval is long, so the rest waited for close()
        assertThat(sink.batches.stream().filter(b -> b.size() == 100).count()).isGreaterThanOrEqualTo(10);
        assertThat(ledger.written()).isEqualTo(1050);
        assertThat(ledger.dropped()).isZero();
    }

    @Test
    void aRecordIsWrittenAfterTheFlushIntervalWithoutAFullBatch() throws Exception {
        Sink sink = new Sink(false, 0);
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(100, 100, Duration.ofMillis(20)), Duration.ofDays(1), Clock.systemUTC());
        ledger.record(record(1));
        await().atMost(Duration.ofSeconds(10)).until(() -> !sink.all().isEmpty());
        assertThat(sink.all()).containsExactly(record(1));
        ledger.close();
    }

    /**
     * The writer gathers without being woken by every record (a wake-up per record cost the relay threads a system
     * call each), yet a full batch goes out at once, not at the end of the flush interval.
     */
    @Test
    void aFullBatchIsWrittenAtOnceAndFewerRecordsWaitForTheFlushInterval() throws Exception {
        Sink sink = new Sink(false, 0);
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(1000, 50, Duration.ofMinutes(30)), Duration.ofDays(1), Clock.systemUTC());
        for (int i = 0; i < 49; i++) {
            ledger.record(record(i));
        }
        Thread.sleep(3 * BatchingUsageLedger.GATHER_MILLIS + 200);
        assertThat(sink.batches).isEmpty(); // 49 of 50: the flush interval (30 minutes) decides
        ledger.record(record(49));
        await().atMost(Duration.ofSeconds(5)).until(() -> sink.all().size() == 50);
        assertThat(sink.batches).hasSize(1);
        assertThat(sink.batches.get(0)).hasSize(50);
        assertThat(ledger.close(Duration.ofSeconds(10))).isTrue();
    }

    /** A full queue drops and counts, and never blocks the caller, while the sink is stuck. */
    @Test
    void aFullQueueDropsAndCountsWithoutBlocking() throws Exception {
        Sink sink = new Sink(true, 0);
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(50, 10, Duration.ofMillis(1)), Duration.ofDays(1), Clock.systemUTC());
        ledger.record(record(0));
        assertThat(sink.entered.await(10, TimeUnit.SECONDS)).isTrue(); // the writer holds one record, stuck
        long start = System.nanoTime();
        for (int i = 1; i <= 1000; i++) {
            ledger.record(record(i));
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(ledger.queued()).isEqualTo(50);
        assertThat(ledger.dropped()).isEqualTo(1000 - 50);
        sink.release.countDown();
        assertThat(ledger.close(Duration.ofSeconds(30))).isTrue();
        assertThat(sink.all()).hasSize(51);
        assertThat(ledger.dropped() + ledger.written()).isEqualTo(1001);
    }

    /** After close, a record is dropped and counted: nothing is left queued with no one to write it. */
    @Test
    void aRecordAfterCloseIsCounted() {
        Sink sink = new Sink(false, 0);
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(10, 10, Duration.ofMillis(10)), Duration.ofDays(1), Clock.systemUTC());
        ledger.close();
        ledger.record(record(1));
        assertThat(ledger.dropped()).isEqualTo(1);
        assertThat(sink.all()).isEmpty();
    }

    @Test
    void aFailedBatchIsTriedAgainThenCountedAsLost() {
        Sink sink = new Sink(false, 2); // two failures, then it works
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(10, 10, Duration.ofMillis(10)), Duration.ofDays(1), Clock.systemUTC());
        ledger.record(record(1));
        ledger.close();
        assertThat(sink.all()).containsExactly(record(1));
        assertThat(ledger.failed()).isZero();

        Sink down = new Sink(false, Integer.MAX_VALUE);
        BatchingUsageLedger lost = BatchingUsageLedger.start(
                down, null, config(10, 10, Duration.ofMillis(10)), Duration.ofDays(1), Clock.systemUTC());
        lost.record(record(2));
        lost.close();
        assertThat(lost.failed()).isEqualTo(1);
        assertThat(lost.written()).isZero();
    }

    /** The writer asks the sink to delete what is older than the retention, at start and then periodically. */
    @Test
    void theWriterPurgesWhatIsOlderThanTheRetention() throws Exception {
        Sink sink = new Sink(false, 0);
        Instant before = Instant.now();
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink,
                null,
                config(10, 10, Duration.ofMillis(5)).withRetention(Duration.ofDays(30)),
                Duration.ofMillis(1),
                Clock.systemUTC());
        await().atMost(Duration.ofSeconds(10)).until(() -> sink.purges.size() >= 2);
        ledger.close();
        assertThat(sink.purges).hasSizeGreaterThanOrEqualTo(2);
        assertThat(sink.purges.get(0))
                .isBetween(before.minus(Duration.ofDays(30)), Instant.now().minus(Duration.ofDays(30)));
    }

    /** Many relay threads at once: every record is written exactly once. */
    @Test
    void concurrentRecordersLoseNothing() throws Exception {
        Sink sink = new Sink(false, 0);
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink, null, config(100_000, 500, Duration.ofMillis(5)), Duration.ofDays(1), Clock.systemUTC());
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            int base = t * 10_000;
            Thread thread = new Thread(() -> {
                for (int i = 0; i < 10_000; i++) {
                    ledger.record(record(base + i));
                }
            });
            thread.start();
            threads.add(thread);
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(ledger.close(Duration.ofSeconds(30))).isTrue();
        assertThat(sink.all()).hasSize(80_000).doesNotHaveDuplicates();
        assertThat(ledger.dropped()).isZero();
    }
}
