package io.github.openaiproxy.testsupport;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A body subscriber whose demand the test controls. It records every item as bytes, and fails the
 * test's expectations (via {@link #demandViolations()}) when it receives more than it asked for.
 */
public final class TestSubscriber implements Flow.Subscriber<List<ByteBuffer>> {
    private final List<byte[]> items = Collections.synchronizedList(new ArrayList<>());
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private final AtomicLong demand = new AtomicLong();
    private final AtomicLong violations = new AtomicLong();
    private final long initialDemand;
    private volatile Flow.Subscription subscription;
    private volatile int completions;
    private volatile Throwable error;

    /** A subscriber that asks for {@code initialDemand} items when subscribed (0 for none). */
    public TestSubscriber(long initialDemand) {
        this.initialDemand = initialDemand;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        if (initialDemand > 0) {
            request(initialDemand);
        }
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        if (demand.getAndDecrement() <= 0) {
            violations.incrementAndGet();
        }
        synchronized (items) {
            items.add(BodyReader.toBytes(item));
            items.notifyAll();
        }
    }

    /** Waits until {@code n} items have arrived; fails after {@code wait}. */
    public void awaitItems(int n, java.time.Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        synchronized (items) {
            while (items.size() < n) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("got " + items.size() + " items, expected " + n);
                }
                java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(items, left);
            }
        }
    }

    @Override
    public void onError(Throwable t) {
        error = t;
        done.complete(null);
    }

    @Override
    public void onComplete() {
        completions++;
        done.complete(null);
    }

    public void request(long n) {
        demand.accumulateAndGet(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
        subscription.request(n);
    }

    public void cancel() {
        subscription.cancel();
    }

    /** The items received so far, as UTF-8 text. */
    public List<String> texts() {
        synchronized (items) {
            return items.stream()
                    .map(b -> new String(b, StandardCharsets.UTF_8))
                    .toList();
        }
    }

    /** The items received so far, as bytes. */
    public List<byte[]> items() {
        synchronized (items) {
            return List.copyOf(items);
        }
    }

    public boolean isCompleted() {
        return completions > 0;
    }

    public int completions() {
        return completions;
    }

    public Throwable error() {
        return error;
    }

    /** Completes when the publisher signalled onComplete or onError. */
    public CompletableFuture<Void> terminated() {
        return done;
    }

    /** How many items arrived without demand. */
    public long demandViolations() {
        return violations.get();
    }
}
