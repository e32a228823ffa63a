package io.github.openaiproxy.core.internal;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A count of things under way (store calls, requests not settled yet) that a close waits to see reach zero, for a
 * bounded time: one atomic counter on the path that starts and ends them, and a poll only on closing.
 */
@Internal
public final class UnderWay {
    private final AtomicInteger count = new AtomicInteger();

    /** One more under way. */
    public void begin() {
        count.incrementAndGet();
    }

    /** One fewer under way. */
    public void end() {
        count.decrementAndGet();
    }

    /**
     * Waits, at most {@code max}, until none is under way.
     *
     * @param max the longest wait
     * @return how many are still under way after the wait
     */
    public int awaitNone(Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        int left;
        while ((left = count.get()) > 0 && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
        return left;
    }
}
