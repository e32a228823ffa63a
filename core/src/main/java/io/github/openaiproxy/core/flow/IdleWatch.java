package io.github.openaiproxy.core.flow;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A shared timer that ends an {@link EventStream} or a {@link Prefetch} whose source stays silent too long (the
 * engine's {@code stream-idle-timeout}). One daemon thread serves all the sources given this watch.
 *
 * <p>An event stream keeps at most one check scheduled here, rescheduled about once per timeout (never per
 * event): it only notes when it started waiting for its source, and its check compares that with the clock.
 *
 * <p>A body read by {@link Prefetch}, one per request and usually read within microseconds, is not scheduled
 * at all: it links itself into a list while it is read and unlinks itself when it ends (no allocation, no
 * timer queue, no wake-up of the timer thread), and one sweep a tick (an eighth of the timeout, at least a
 * millisecond and at most a second) ends those that waited longer than the timeout. Such a body is ended
 * between one timeout and one timeout plus a tick after it started waiting.
 */
public final class IdleWatch implements AutoCloseable {
    private static final long MIN_DELAY_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long MAX_TICK_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final ScheduledThreadPoolExecutor scheduler;
    private final long timeoutNanos;
    private final long tickNanos;
    /** Tasks ever scheduled (the executor's own count forgets the cancelled ones). */
    private final AtomicLong scheduled = new AtomicLong();

    // The swept sources: a doubly linked list through the watches themselves, guarded by this lock.
    private final Object lock = new Object();
    private SourceWatch head;
    private int swept;
    /** The sweep's next run while sources are swept; {@code null} when none is scheduled. */
    private ScheduledFuture<?> sweep;

    /**
     * @param timeout how long a source may stay silent while it is waited for
     * @throws IllegalArgumentException when {@code timeout} is not positive
     */
    public IdleWatch(Duration timeout) {
        if (timeout == null || timeout.isZero() || timeout.isNegative()) {
            throw new IllegalArgumentException("stream-idle-timeout must be a positive duration");
        }
        this.timeoutNanos = timeout.toNanos();
        this.tickNanos = Math.max(MIN_DELAY_NANOS, Math.min(MAX_TICK_NANOS, timeoutNanos / 8));
        this.scheduler = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openai-proxy-stream-idle");
            t.setDaemon(true);
            return t;
        });
        // A stream that ends cancels its check: drop it from the queue at once instead of at its due time.
        scheduler.setRemoveOnCancelPolicy(true);
    }

    /** How long a source may stay silent, in nanoseconds. */
    public long timeoutNanos() {
        return timeoutNanos;
    }

    /** Schedules a check after {@code delayNanos}; {@code null} once the watch is closed. */
    ScheduledFuture<?> schedule(Runnable check, long delayNanos) {
        try {
            scheduled.incrementAndGet();
            return scheduler.schedule(check, Math.max(delayNanos, MIN_DELAY_NANOS), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            return null;
        }
    }

    /** Sweeps {@code source} until {@link #unlink}; nothing once the watch is closed. */
    void link(SourceWatch source) {
        synchronized (lock) {
            if (source.linked || scheduler.isShutdown()) {
                return;
            }
            source.linked = true;
            source.sweptPrev = null;
            source.sweptNext = head;
            if (head != null) {
                head.sweptPrev = source;
            }
            head = source;
            swept++;
            if (sweep == null) {
                scheduleSweep();
            }
        }
    }

    /** Stops sweeping {@code source}; nothing when it is not swept. */
    void unlink(SourceWatch source) {
        synchronized (lock) {
            unlinkLocked(source);
        }
    }

    private void unlinkLocked(SourceWatch source) {
        if (!source.linked) {
            return;
        }
        if (source.sweptPrev != null) {
            source.sweptPrev.sweptNext = source.sweptNext;
        } else {
            head = source.sweptNext;
        }
        if (source.sweptNext != null) {
            source.sweptNext.sweptPrev = source.sweptPrev;
        }
        source.sweptPrev = null;
        source.sweptNext = null;
        source.linked = false;
        swept--;
    }

    /** Runs once a tick while sources are swept; stops rescheduling itself when none is. */
    private void sweep() {
        long now = System.nanoTime();
        List<SourceWatch> idle = null;
        synchronized (lock) {
            SourceWatch next;
            for (SourceWatch s = head; s != null; s = next) {
                next = s.sweptNext;
                if (s.finished()) {
                    unlinkLocked(s); // ended meanwhile: its own unlink comes to nothing
                } else if (s.idleAt(now, timeoutNanos)) {
                    if (idle == null) {
                        idle = new ArrayList<>();
                    }
                    idle.add(s);
                }
            }
            sweep = null;
            if (head != null) {
                scheduleSweep();
            }
        }
        if (idle != null) {
            // Outside the lock: a timeout cancels the source and tells its subscriber.
            idle.forEach(SourceWatch::expire);
        }
    }

    /** Under the lock. */
    private void scheduleSweep() {
        try {
            scheduled.incrementAndGet();
            sweep = scheduler.schedule(this::sweep, tickNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            sweep = null; // closed: sources are no longer watched
        }
    }

    /**
     * Checks waiting to run plus sources swept, the sweep itself not counted (for tests and monitoring: a
     * source that ended leaves none behind).
     */
    public int pending() {
        synchronized (lock) {
            int n = swept;
            for (Runnable task : scheduler.getQueue()) {
                if (task != sweep) {
                    n++;
                }
            }
            return n;
        }
    }

    /** Tasks ever put on the timer, checks and sweeps (for tests: a swept body costs no task of its own). */
    public long tasksScheduled() {
        return scheduled.get();
    }

    /** Stops the timer: sources still open are no longer watched. */
    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
