package io.github.openaiproxy.core.flow;

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
 * <p>Subclasses say what the events are: the engine's relay cuts an upstream body into its
 * Server-Sent Events, the GraphQL module wraps results as GraphQL-over-SSE events.
 *
 * @param <T> the source's items
 */
public abstract class EventStream<T> implements Flow.Publisher<List<ByteBuffer>> {
    private final Flow.Publisher<T> source;
    private final IdleWatch idle;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    protected EventStream(Flow.Publisher<T> source) {
        this(source, null);
    }

    /**
     * With an idle watch: a source silent for longer than the watch's timeout is cancelled, and
     * {@link #onSourceIdle} says what the client sees last.
     */
    protected EventStream(Flow.Publisher<T> source, IdleWatch idle) {
        this.source = Objects.requireNonNull(source, "source");
        this.idle = idle;
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

    /**
     * The source sent nothing within the idle timeout and was cancelled: emit what the client should see
     * last. Called instead of any further source signal, never at the same time as one.
     */
    protected void onSourceIdle(Consumer<ByteBuffer> emit) {
        onSourceError(new java.util.concurrent.TimeoutException("the source was idle too long"), emit);
    }

    /**
     * The client cancelled (maybe more than once, maybe while the source is read on another thread): for what the
     * stream holds outside the relay (a shared buffer budget). Does nothing by default.
     */
    protected void onCancel() {}

    @Override
    public final void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        if (!subscribed.compareAndSet(false, true)) {
            Publishers.refuse(downstream, "an event stream can be subscribed once");
            return;
        }
        Relay relay = new Relay(downstream);
        downstream.onSubscribe(relay);
        source.subscribe(relay);
        relay.watch.start();
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
        final SourceWatch watch;

        Relay(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            this.downstream = downstream;
            this.watch = new SourceWatch(idle, false, this::timedOut);
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
            if (cancelled || upstreamDone || !watch.enterItem()) {
                return;
            }
            if (!onItem(item, ready::add)) {
                upstreamDone = true;
                watch.finish();
                upstream.cancel();
            } else {
                watch.exit(); // before upstreamRequested, so the next request finds the watch open
            }
            upstreamRequested = false;
            drain();
        }

        @Override
        public void onError(Throwable throwable) {
            if (upstreamDone || !watch.end()) {
                return;
            }
            onSourceError(throwable, ready::add);
            upstreamDone = true;
            drain();
        }

        @Override
        public void onComplete() {
            if (upstreamDone || !watch.end()) {
                return;
            }
            onSourceComplete(ready::add);
            upstreamDone = true;
            drain();
        }

        /** The source sent nothing within the idle timeout (on the timer's thread, never during a signal). */
        private void timedOut() {
            Flow.Subscription s = upstream;
            if (s != null) {
                s.cancel();
            }
            onSourceIdle(ready::add);
            upstreamDone = true;
            drain();
        }

        // --- client side

        @Override
        public void request(long n) {
            if (Demand.refused(n, this, downstream)) {
                return;
            }
            Demand.addTo(demand, n);
            drain();
        }

        @Override
        public void cancel() {
            cancelled = true;
            onCancel();
            Flow.Subscription s = upstream;
            if (s != null) {
                s.cancel();
            }
            ready.clear();
            watch.finish();
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
                    watch.finish();
                    downstream.onComplete();
                } else if (ready.isEmpty() && demand.get() > 0 && !upstreamRequested && upstream != null) {
                    upstreamRequested = true;
                    watch.requested(1);
                    upstream.request(1);
                }
            } while (wip.decrementAndGet() != 0);
        }
    }
}
