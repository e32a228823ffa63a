package io.github.openaiproxy.core.relay;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bytes the unfinished events of every stream of one proxy may hold together: each stream may buffer one
 * event of up to {@code max-event-size}, and a thousand open streams would otherwise hold a thousand of them. A
 * stream that would go over ends with the event-too-large error. The first {@link EventFramer#FREE} bytes of each
 * stream's buffer are not counted, so ordinary streams are never refused however many are open. Thread-safe.
 */
final class EventBuffers {
    /** No bound but each event's own (tests, benchmarks). */
    static final EventBuffers UNBOUNDED = new EventBuffers(Long.MAX_VALUE);

    private final long limit;
    private final AtomicLong held = new AtomicLong();

    EventBuffers(long limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be positive");
        }
        this.limit = limit;
    }

    /**
     * The default bound: sixteen events of the largest size, but no more than a quarter of the heap (and never
     * less than one event).
     */
    static EventBuffers forEvents(int maxEventBytes) {
        long quarterHeap = Runtime.getRuntime().maxMemory() / 4;
        return new EventBuffers(Math.max(maxEventBytes, Math.min(16L * maxEventBytes, quarterHeap)));
    }

    /** Takes {@code bytes} from the budget; false (and nothing taken) when that would go over it. */
    boolean take(long bytes) {
        if (held.addAndGet(bytes) > limit) {
            held.addAndGet(-bytes);
            return false;
        }
        return true;
    }

    /** Gives back {@code bytes} taken before. */
    void give(long bytes) {
        held.addAndGet(-bytes);
    }

    /** The bytes held now. */
    long held() {
        return held.get();
    }

    long limit() {
        return limit;
    }
}
