package io.github.openaiproxy.core.flow;

import java.util.concurrent.ScheduledFuture;

/**
 * A shared timer that ends an {@link EventStream} or a {@link Prefetch} whose source stays silent too long (the engine's
 * {@code stream-idle-timeout}). The stream keeps at most one check scheduled at a time.
 */
public interface IdleWatch {
    /** How long the source may stay silent, in nanoseconds. */
    long timeoutNanos();

    /** Schedules a check after {@code delayNanos}; {@code null} once the timer is closed. */
    ScheduledFuture<?> schedule(Runnable check, long delayNanos);
}
