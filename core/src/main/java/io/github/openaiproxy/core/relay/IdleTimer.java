package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.IdleWatch;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The one timer thread of an engine's relay, shared by all its streams. Each open stream keeps at most
 * one task here, rescheduled about once per timeout (never per event): a stream only notes when it
 * started waiting for the upstream, and its task compares that with the clock.
 */
final class IdleTimer implements IdleWatch, AutoCloseable {
    private final ScheduledThreadPoolExecutor scheduler;
    private final long timeoutNanos;

    IdleTimer(Duration timeout) {
        if (timeout == null || timeout.isZero() || timeout.isNegative()) {
            throw new IllegalArgumentException("stream-idle-timeout must be a positive duration");
        }
        this.timeoutNanos = timeout.toNanos();
        this.scheduler = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openai-proxy-stream-idle");
            t.setDaemon(true);
            return t;
        });
        // A stream that ends cancels its task: drop it from the queue at once instead of at its due time.
        scheduler.setRemoveOnCancelPolicy(true);
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

    /** Checks waiting to run (tests: a stream that ended leaves none behind). */
    int pending() {
        return scheduler.getQueue().size();
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
