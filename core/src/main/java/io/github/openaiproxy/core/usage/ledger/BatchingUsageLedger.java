package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A ledger that writes in batches from a bounded queue, on one daemon thread of its own. {@link #record} only
 * offers to the queue: it never blocks a relay thread, and wakes the writer only once a batch is ready. When the
 * queue is full the record is dropped, counted ({@link #dropped()}) and logged, at most once per {@value
 * #LOG_EVERY_SECONDS} seconds; one that comes after {@link #close()} began is dropped, counted and logged each time.
 *
 * <p>The thread writes a batch when {@code batchSize} records are queued or the oldest has waited
 * {@code flushInterval}. A batch that fails is tried again {@value #ATTEMPTS} times in all, then its records are
 * counted as lost ({@link #failed()}). Every {@code purgeEvery} (and once at start) it asks the sink to delete
 * what is older than the retention. {@link #close()} stops taking records, writes everything queued, and waits
 * for that at most {@code closeTimeout}.
 */
public final class BatchingUsageLedger implements UsageLedger, UsageQueries {
    private static final System.Logger LOG = System.getLogger(BatchingUsageLedger.class.getName());
    static final int LOG_EVERY_SECONDS = 60;
    static final int ATTEMPTS = 3;
    /** How often old rows are purged. */
    static final Duration PURGE_EVERY = Duration.ofHours(1);
    /** The longest {@link #close()} waits for the queue to be written. */
    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private final UsageSink sink;
    private final UsageQueries queries;
    private final ArrayBlockingQueue<UsageRecord> queue;
    /** Records queued at which {@link #record} wakes the gathering writer. */
    private final int wakeAt;

    private final int batchSize;
    private final long flushNanos;
    private final Duration retention;
    /** {@code ledger.query-timeout}: how long a summary may read the store. */
    private final Duration queryTimeout;

    private final Duration purgeEvery;
    private final Clock clock;
    private final Thread writer;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong lastDropLog = new AtomicLong(Long.MIN_VALUE);
    private volatile boolean closing;

    private BatchingUsageLedger(
            UsageSink sink, UsageQueries queries, LedgerConfig config, Duration purgeEvery, Clock clock) {
        this.sink = Objects.requireNonNull(sink, "sink");
        this.queries = queries;
        this.queue = new ArrayBlockingQueue<>(config.queueSize());
        this.wakeAt = Math.max(1, Math.min(config.batchSize(), config.queueSize() / 2));
        this.batchSize = config.batchSize();
        this.flushNanos = config.flushInterval().toNanos();
        this.queryTimeout = config.queryTimeout();
        this.retention = config.retention();
        this.purgeEvery = purgeEvery;
        this.clock = Objects.requireNonNull(clock, "clock");
        this.writer = new Thread(this::run, "openai-proxy-ledger");
        writer.setDaemon(true);
    }

    /**
     * A ledger writing to {@code store} (which answers the queries too), with {@code config}'s queue, batch size,
     * flush interval and retention; its thread starts now.
     */
    public static <S extends UsageSink & UsageQueries> BatchingUsageLedger start(
            S store, LedgerConfig config, Clock clock) {
        return start(store, store, config, PURGE_EVERY, clock);
    }

    /**
     * A ledger writing to any sink; {@code queries} answers {@link #summarize} ({@code null}: the sink cannot be
     * queried, and {@link #summarize} fails with {@link UnsupportedOperationException}).
     */
    public static BatchingUsageLedger start(
            UsageSink sink, UsageQueries queries, LedgerConfig config, Duration purgeEvery, Clock clock) {
        BatchingUsageLedger ledger = new BatchingUsageLedger(sink, queries, config, purgeEvery, clock);
        ledger.writer.start();
        return ledger;
    }

    @Override
    public void record(UsageRecord record) {
        if (closing) {
            // Each one logged: a row lost to a shutdown is rare (close() waits for the requests it ends first),
            // and one missing from a bill should be found in the log.
            LOG.log(
                    System.Logger.Level.WARNING,
                    "usage ledger closed: a record was dropped ({0} dropped in all)",
                    dropped.incrementAndGet());
        } else if (queue.offer(record)) {
            if (queue.size() >= wakeAt) {
                LockSupport.unpark(writer); // a batch is ready, or the queue half full: no need to wait the slice
            }
        } else {
            long n = dropped.incrementAndGet();
            long now = System.nanoTime();
            long last = lastDropLog.get();
            if ((last == Long.MIN_VALUE || now - last >= TimeUnit.SECONDS.toNanos(LOG_EVERY_SECONDS))
                    && lastDropLog.compareAndSet(last, now)) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "usage ledger queue full (ledger.queue-size): a record was dropped ({0} dropped in all); the"
                                + " database is slower than the traffic",
                        n);
            }
        }
    }

    /** Records dropped because the queue was full (or the ledger closed). */
    public long dropped() {
        return dropped.get();
    }

    /** Records lost because their batch could not be written. */
    public long failed() {
        return failed.get();
    }

    /** Records written. */
    public long written() {
        return written.get();
    }

    /** Batches written. */
    public long batches() {
        return batches.get();
    }

    /** Records waiting now. */
    public int queued() {
        return queue.size();
    }

    @Override
    public List<UsageSummary> summarize(UsageQuery query) {
        if (queries == null) {
            throw new UnsupportedOperationException("this ledger's sink answers no queries");
        }
        return queries.summarize(query, queryTimeout);
    }

    /** Stops taking records and writes every record queued, waiting at most 30 seconds for that. */
    @Override
    public void close() {
        close(CLOSE_TIMEOUT);
    }

    /**
     * As {@link #close()}, waiting at most {@code timeout}; returns whether everything taken was written (failed
     * batches aside: see {@link #failed()}).
     */
    public boolean close(Duration timeout) {
        // No interrupt: a database driver's file channel may not survive one. The writer looks at the flag often.
        closing = true;
        try {
            boolean done = stopped.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
            boolean all = done;
            if (done) {
                // A record offered while close() began, after the writer's last look: counted, not left behind.
                List<UsageRecord> late = new ArrayList<>();
                queue.drainTo(late);
                if (!late.isEmpty()) {
                    all = false;
                    dropped.addAndGet(late.size());
                    LOG.log(System.Logger.Level.WARNING, "usage ledger closed: {0} late records dropped", late.size());
                }
            } else {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "usage ledger: {0} records still queued after waiting {1}; they are lost",
                        queue.size(),
                        timeout);
            }
            return all;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void run() {
        List<UsageRecord> batch = new ArrayList<>(batchSize);
        Instant nextPurge = clock.instant();
        try {
            while (!closing) {
                if (!clock.instant().isBefore(nextPurge)) {
                    purge();
                    nextPurge = clock.instant().plus(purgeEvery);
                }
                fill(batch);
                if (!batch.isEmpty()) {
                    write(batch);
                }
            }
            while (queue.drainTo(batch, batchSize) > 0) {
                write(batch);
            }
        } finally {
            stopped.countDown();
        }
    }

    /**
     * Waits for the first record (at most a flush interval), then gathers up to a batch until the flush interval
     * since it has passed. It gathers by looking at the queue every {@value #GATHER_MILLIS} ms, not by waiting on
     * it: a writer waiting in the queue's {@code poll} is woken by every record offered, a system call on the relay
     * thread and a context switch of the writer per record (about 10 us of the proxy's CPU per request at 20,000
     * requests a second). A queue filling up wakes it early ({@link #record}).
     */
    private void fill(List<UsageRecord> batch) {
        UsageRecord first = poll(System.nanoTime() + flushNanos);
        if (first == null) {
            return;
        }
        batch.add(first);
        long deadline = System.nanoTime() + flushNanos;
        while (true) {
            queue.drainTo(batch, batchSize - batch.size());
            long left = deadline - System.nanoTime();
            if (batch.size() >= batchSize || left <= 0 || closing) {
                return; // closing: what is queued goes out in full batches (run)
            }
            LockSupport.parkNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(GATHER_MILLIS)));
        }
    }

    static final long GATHER_MILLIS = 10;

    static final long SLICE_MILLIS = 50;

    /** The next record, or {@code null} at the deadline or on close. */
    private UsageRecord poll(long deadline) {
        while (!closing) {
            long left = Math.min(deadline - System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(SLICE_MILLIS));
            if (left <= 0) {
                return null;
            }
            try {
                UsageRecord r = queue.poll(left, TimeUnit.NANOSECONDS);
                if (r != null) {
                    return r;
                }
            } catch (InterruptedException e) {
                return null; // nobody interrupts this thread of the ledger's own; close() sets the flag
            }
        }
        return null;
    }

    private void write(List<UsageRecord> batch) {
        for (int attempt = 1; ; attempt++) {
            try {
                sink.write(List.copyOf(batch));
                written.addAndGet(batch.size());
                batches.incrementAndGet();
                break;
            } catch (Exception e) {
                if (attempt >= ATTEMPTS) {
                    failed.addAndGet(batch.size());
                    LOG.log(
                            System.Logger.Level.ERROR,
                            "usage ledger: a batch of " + batch.size() + " records could not be written; lost",
                            e);
                    break;
                }
                LOG.log(
                        System.Logger.Level.WARNING,
                        "usage ledger: writing a batch failed ({0}); trying again",
                        e.toString());
                pause(attempt);
            }
        }
        batch.clear();
    }

    /** A short wait between attempts; not on close, which must not be held up. */
    private void pause(int attempt) {
        if (closing) {
            return;
        }
        try {
            Thread.sleep(Math.min(1000L, 100L * attempt));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void purge() {
        try {
            sink.purge(clock.instant().minus(retention));
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "usage ledger: deleting old rows failed ({0})", e.toString());
        }
    }
}
