package io.github.openaiproxy.core.internal;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A warning logged once in a while rather than once per request: a client flooding the proxy must not fill the
 * log's disk with one line for each request it has refused. {@link #due()} says when to log, and how many were left
 * out since the last time.
 */
@Internal
public final class Occasional {
    private final long intervalNanos;
    private final LongSupplier nanoTime;
    private final AtomicLong next;
    private final AtomicLong skipped = new AtomicLong();

    /** At most once per {@code intervalNanos}, the first time at once. */
    public Occasional(long intervalNanos) {
        this(intervalNanos, System::nanoTime);
    }

    Occasional(long intervalNanos, LongSupplier nanoTime) {
        this.intervalNanos = intervalNanos;
        this.nanoTime = nanoTime;
        this.next = new AtomicLong(nanoTime.getAsLong());
    }

    /** How many were left out since the last one logged when one is due now (then log it), else {@code -1}. */
    public long due() {
        long now = nanoTime.getAsLong();
        long at = next.get();
        if (now - at >= 0 && next.compareAndSet(at, now + intervalNanos)) {
            return skipped.getAndSet(0);
        }
        skipped.incrementAndGet();
        return -1;
    }

    /**
     * Logs {@code message} (a {@link java.text.MessageFormat} pattern without arguments) when one is due, followed by
     * how many were left out since the last line.
     */
    public void log(System.Logger log, System.Logger.Level level, String message) {
        long skipped = due();
        if (skipped >= 0) {
            log.log(level, message + "; {0} more since the last warning", skipped);
        }
    }
}
