package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.internal.Bodies;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Turns a source publisher into a stream of events, each published as its own item so the adapter
 * flushes it at once. Demand flows to the source: one source item is requested only when no event is
 * waiting and the client can take more, so a slow client slows the source instead of filling memory.
 * Cancelling the subscription cancels the source. Subscribe once.
 *
 * <p>Subclasses say what the events are: {@link SseEventRelay} cuts an upstream body into its
 * Server-Sent Events, the GraphQL module wraps results as GraphQL-over-SSE events.
 *
 * @param <T> the source's items
 */
public abstract class EventStream<T> implements Flow.Publisher<List<ByteBuffer>> {
    private final Flow.Publisher<T> source;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    protected EventStream(Flow.Publisher<T> source) {
        this.source = Objects.requireNonNull(source, "source");
    }

    /**
     * Turns one source item into events, handing each complete event to {@code emit}. Called by one
     * thread at a time, in order.
     *
     * @return false to stop reading the source: it is cancelled and the stream ends after what was emitted
     */
    protected abstract boolean onItem(T item, Consumer<ByteBuffer> emit);

    /** The source failed: emit what the client should see last (the stream then ends normally). */
    protected abstract void onSourceError(Throwable error, Consumer<ByteBuffer> emit);

    /** The source ended: emit what is still pending. */
    protected abstract void onSourceComplete(Consumer<ByteBuffer> emit);

    @Override
    public final void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        if (!subscribed.compareAndSet(false, true)) {
            Bodies.refuse(downstream, "an event stream can be subscribed once");
            return;
        }
        Relay relay = new Relay(downstream);
        downstream.onSubscribe(relay);
        source.subscribe(relay);
    }

    private final class Relay implements Flow.Subscriber<T>, Flow.Subscription {
        private final Flow.Subscriber<? super List<ByteBuffer>> downstream;
        private final Queue<ByteBuffer> ready = new ConcurrentLinkedQueue<>();
        private final AtomicLong demand = new AtomicLong();
        private final AtomicInteger wip = new AtomicInteger();
        private volatile Flow.Subscription upstream;
        private volatile boolean upstreamRequested;
        private volatile boolean upstreamDone;
        private volatile boolean cancelled;
        private boolean terminated;

        Relay(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            this.downstream = downstream;
        }

        // --- source side: signals are serialized by the source

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            if (upstream != null || cancelled) {
                subscription.cancel();
                return;
            }
            upstream = subscription;
            drain();
        }

        @Override
        public void onNext(T item) {
            if (cancelled || upstreamDone) {
                return;
            }
            if (!onItem(item, ready::add)) {
                upstreamDone = true;
                upstream.cancel();
            }
            upstreamRequested = false;
            drain();
        }

        @Override
        public void onError(Throwable throwable) {
            if (upstreamDone) {
                return;
            }
            onSourceError(throwable, ready::add);
            upstreamDone = true;
            drain();
        }

        @Override
        public void onComplete() {
            if (upstreamDone) {
                return;
            }
            onSourceComplete(ready::add);
            upstreamDone = true;
            drain();
        }

        // --- client side

        @Override
        public void request(long n) {
            if (n <= 0) {
                cancel();
                downstream.onError(new IllegalArgumentException("non-positive request: " + n));
                return;
            }
            demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
            drain();
        }

        @Override
        public void cancel() {
            cancelled = true;
            Flow.Subscription s = upstream;
            if (s != null) {
                s.cancel();
            }
            ready.clear();
        }

        private void drain() {
            if (wip.getAndIncrement() != 0) {
                return;
            }
            do {
                if (terminated || cancelled) {
                    ready.clear();
                    continue;
                }
                while (demand.get() > 0 && !cancelled) {
                    ByteBuffer event = ready.poll();
                    if (event == null) {
                        break;
                    }
                    demand.decrementAndGet();
                    downstream.onNext(List.of(event));
                }
                if (cancelled) {
                    continue;
                }
                if (ready.isEmpty() && upstreamDone) {
                    terminated = true;
                    downstream.onComplete();
                } else if (ready.isEmpty() && demand.get() > 0 && !upstreamRequested && upstream != null) {
                    upstreamRequested = true;
                    upstream.request(1);
                }
            } while (wip.decrementAndGet() != 0);
        }
    }
}
