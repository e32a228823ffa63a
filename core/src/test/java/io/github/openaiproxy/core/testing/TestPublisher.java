package io.github.openaiproxy.core.testing;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A hand-driven upstream body: the test decides when items, errors and completion are sent, and the
 * publisher records what its subscriber asked for (requests, cancellation). Emitting beyond the
 * subscriber's demand is refused, so a test cannot break backpressure by accident.
 */
public final class TestPublisher implements Flow.Publisher<List<ByteBuffer>> {
    private final AtomicLong outstanding = new AtomicLong();
    private final AtomicLong totalRequested = new AtomicLong();
    private final AtomicInteger requestCalls = new AtomicInteger();
    private final AtomicLong maxOutstanding = new AtomicLong();
    private final AtomicBoolean cancelled = new AtomicBoolean();
    private volatile Flow.Subscriber<? super List<ByteBuffer>> subscriber;

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> s) {
        if (subscriber != null) {
            throw new IllegalStateException("TestPublisher supports a single subscriber");
        }
        subscriber = s;
        s.onSubscribe(new Flow.Subscription() {
            @Override
            public void request(long n) {
                requestCalls.incrementAndGet();
                totalRequested.addAndGet(n);
                long now = outstanding.addAndGet(n);
                maxOutstanding.accumulateAndGet(now, Math::max);
            }

            @Override
            public void cancel() {
                cancelled.set(true);
            }
        });
    }

    /** Sends one item made of the given chunks; fails when the subscriber did not ask for one. */
    public void emit(byte[]... chunks) {
        if (outstanding.getAndDecrement() <= 0) {
            outstanding.incrementAndGet();
            throw new AssertionError("item emitted without demand");
        }
        List<ByteBuffer> item = java.util.Arrays.stream(chunks)
                .map(c -> ByteBuffer.wrap(c).asReadOnlyBuffer())
                .toList();
        subscriber.onNext(item);
    }

    /** Sends one item holding the UTF-8 bytes of {@code text}. */
    public void emit(String text) {
        emit(text.getBytes(StandardCharsets.UTF_8));
    }

    public void complete() {
        subscriber.onComplete();
    }

    public void fail(Throwable error) {
        subscriber.onError(error);
    }

    public boolean isSubscribed() {
        return subscriber != null;
    }

    /** Items the subscriber asked for and has not received yet. */
    public long outstanding() {
        return outstanding.get();
    }

    /** The largest number of items ever requested but not yet delivered. */
    public long maxOutstanding() {
        return maxOutstanding.get();
    }

    public long totalRequested() {
        return totalRequested.get();
    }

    public int requestCalls() {
        return requestCalls.get();
    }

    public boolean isCancelled() {
        return cancelled.get();
    }
}
