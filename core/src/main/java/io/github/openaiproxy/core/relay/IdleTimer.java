package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.IdleWatch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The one timer thread of an engine's relay, shared by all its streams and bodies.
 *
 * <p>Each open stream keeps at most one task here, rescheduled about once per timeout (never per event): a
 * stream only notes when it started waiting for the upstream, and its task compares that with the clock.
 *
 * <p>Non-streamed bodies, one per request and usually read within microseconds, are not scheduled one by
 * one: each {@link Watched} body links itself into a list while it is read and unlinks itself when it
 * ends (no allocation, no timer queue, no wake-up of the timer thread), and one sweep a tick (an eighth of
 * the timeout, at most a second) ends those that have waited longer than the timeout. A body is so ended
 * between one timeout and one timeout plus a tick after its last read.
 */
final class IdleTimer implements IdleWatch, AutoCloseable {
    private static final long MAX_TICK_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final long MIN_TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final ScheduledThreadPoolExecutor scheduler;
    private final long timeoutNanos;
    private final long tickNanos;

    // The watched bodies: a doubly linked list through the bodies themselves, guarded by this lock.
    private final Object lock = new Object();
    private Watched head;
    private int watched;
    /** The sweep's next run, while bodies are watched; {@code null} when none is scheduled. */
    private ScheduledFuture<?> sweep;

    IdleTimer(Duration timeout) {
        if (timeout == null || timeout.isZero() || timeout.isNegative()) {
            throw new IllegalArgumentException("stream-idle-timeout must be a positive duration");
        }
        this.timeoutNanos = timeout.toNanos();
        this.tickNanos = Math.max(MIN_TICK_NANOS, Math.min(MAX_TICK_NANOS, timeoutNanos / 8));
        this.scheduler = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openai-proxy-stream-idle");
            t.setDaemon(true);
            return t;
        });
        // A stream that ends cancels its task: drop it from the queue at once instead of at its due time.
        scheduler.setRemoveOnCancelPolicy(true);
    }

    /**
     * A body read under the idle watch. The timer links it in and out; the body says whether it has waited
     * too long and ends itself when told to.
     */
    abstract static class Watched {
        // Guarded by the timer's lock.
        private Watched prev;
        private Watched next;
        private boolean linked;

        /** Whether a read has been outstanding for {@code timeoutNanos} or longer at {@code now}. */
        abstract boolean idleSince(long now, long timeoutNanos);

        /**
         * Ends the body for its silence (outside the timer's lock). It may find the body busy delivering,
         * or ended: then it does nothing, and the next sweep looks again if it is still watched.
         */
        abstract void expire();
    }

    @Override
    public long timeoutNanos() {
        return timeoutNanos;
    }

    /** Schedules a check; {@code null} once the timer is closed (the engine is shutting down). */
    @Override
    public ScheduledFuture<?> schedule(Runnable check, long delayNanos) {
        try {
            return scheduler.schedule(check, Math.max(delayNanos, 1_000_000L), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            return null;
        }
    }

    /** Watches {@code body} until {@link #unwatch}; nothing once the timer is closed. */
    void watch(Watched body) {
        synchronized (lock) {
            if (body.linked || scheduler.isShutdown()) {
                return;
            }
            body.linked = true;
            body.prev = null;
            body.next = head;
            if (head != null) {
                head.prev = body;
            }
            head = body;
            watched++;
            if (sweep == null) {
                scheduleSweep();
            }
        }
    }

    /** Stops watching {@code body}; nothing when it is not watched. */
    void unwatch(Watched body) {
        synchronized (lock) {
            if (!body.linked) {
                return;
            }
            if (body.prev != null) {
                body.prev.next = body.next;
            } else {
                head = body.next;
            }
            if (body.next != null) {
                body.next.prev = body.prev;
            }
            body.prev = null;
            body.next = null;
            body.linked = false;
            watched--;
        }
    }

    /** Runs once a tick while bodies are watched; stops rescheduling itself when none is. */
    private void sweep() {
        long now = System.nanoTime();
        List<Watched> idle = null;
        synchronized (lock) {
            for (Watched w = head; w != null; w = w.next) {
                if (w.idleSince(now, timeoutNanos)) {
                    if (idle == null) {
                        idle = new ArrayList<>();
                    }
                    idle.add(w);
                }
            }
            sweep = null;
            if (head != null) {
                scheduleSweep();
            }
        }
        if (idle != null) {
            idle.forEach(Watched::expire);
        }
    }

    /** Under the lock. */
    private void scheduleSweep() {
        try {
            sweep = scheduler.schedule(this::sweep, tickNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            sweep = null; // closed: bodies are no longer watched
        }
    }

    /** Checks waiting to run and bodies watched (tests: a stream or body that ended leaves none behind). */
    int pending() {
        synchronized (lock) {
            return scheduler.getQueue().size() - (sweep != null && !sweep.isDone() ? 1 : 0) + watched;
        }
    }

    /** Tasks ever put on the timer: stream checks and sweeps (tests: a body costs no task of its own). */
    long tasksScheduled() {
        return scheduler.getTaskCount();
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
