package io.github.openaiproxy.core.flow;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
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
    /**
     * How long {@link #firstEvent()} holds back the keep-alive items (SSE comments) that come before the first
     * event. One relayed commits the response, after which a break can no longer be retried; but held for good they
     * would leave a client, or a load balancer in front of the proxy, with no byte during a long think (Heroku's
     * router gives up after 30 s without one, nginx and AWS's load balancers after 60 s of silence by default). Past
     * this, the next keep-alive goes out as the first event.
     */
    public static final Duration KEEP_ALIVE_HOLD = Duration.ofSeconds(10);

    /** The relay {@link #firstEvent} started before anyone subscribed; {@code null} without one. */
    private volatile Relay early;

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

    /**
     * Whether an emitted item is an event that commits the stream, for {@link #firstEvent}: the items before the
     * first one that is are not published (keep-alive comments). Every item is one by default.
     */
    protected boolean isEvent(ByteBuffer emitted) {
        return true;
    }

    /**
     * As {@link #firstEvent(Duration)}, keep-alive items held back for {@link #KEEP_ALIVE_HOLD}.
     *
     * @return completes when the first event is ready, or exceptionally when the source failed before it
     */
    public final CompletableFuture<Void> firstEvent() {
        return firstEvent(KEEP_ALIVE_HOLD);
    }

    /**
     * Starts reading the source before anyone subscribes, and stops asking it for more once the first
     * {@linkplain #isEvent event} is ready: then the returned future completes, and the subscriber that comes next
     * gets that event first, as it was emitted, on its first request. Items emitted before it are dropped while
     * {@code holdKeepAlives} has not passed since this call; the first one after that counts as the first event. When the
     * source fails, ends or goes idle before any event, the future completes exceptionally with the source's error
     * (a {@link java.util.concurrent.TimeoutException} when idle, an {@link java.io.EOFException} when it ended) and
     * nothing was published: the caller can still answer otherwise. Cancelling the future cancels the source. Call
     * once, before {@link #subscribe}; the idle watch runs from this call.
     *
     * @param holdKeepAlives how long items that are not events are dropped rather than taken as the first event
     * @return completes when the first event is ready, or exceptionally when the source failed before it
     */
    public final CompletableFuture<Void> firstEvent(Duration holdKeepAlives) {
        Objects.requireNonNull(holdKeepAlives, "holdKeepAlives");
        if (early != null || subscribed.get()) {
            throw new IllegalStateException("firstEvent is called once, before subscribe");
        }
        CompletableFuture<Void> first = new CompletableFuture<>();
        Relay relay = new Relay(null, first, holdKeepAlives.toNanos());
        early = relay;
        first.whenComplete((v, e) -> {
            if (first.isCancelled()) {
                relay.cancel();
            }
        });
        source.subscribe(relay);
        relay.watch.start();
        return first;
    }

    @Override
    public final void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        if (!subscribed.compareAndSet(false, true)) {
            Publishers.refuse(downstream, "an event stream can be subscribed once");
            return;
        }
        Relay started = early;
        if (started != null) {
            if (!started.seenEvent) {
                Publishers.refuse(downstream, "the event stream failed before its first event");
                return;
            }
            started.downstream = downstream; // before onSubscribe: its first request finds it
            downstream.onSubscribe(started);
            started.drain();
            return;
        }
        Relay relay = new Relay(downstream, null, 0);
        downstream.onSubscribe(relay);
        source.subscribe(relay);
        relay.watch.start();
    }

    /** Where what is emitted after the source failed before its first event goes: nowhere. */
    private static final Consumer<ByteBuffer> DROP = dropped -> {};

    private final class Relay implements Flow.Subscriber<T>, Flow.Subscription {
        /** Who gets the events; {@code null} while {@link #firstEvent} reads ahead alone. */
        private volatile Flow.Subscriber<? super List<ByteBuffer>> downstream;

        private final Queue<ByteBuffer> ready = new ConcurrentLinkedQueue<>();
        /** What the subclass emits into: {@link #ready}, the items before the first event dropped when reading ahead. */
        private final Consumer<ByteBuffer> emit = this::emitted;
        /** Set by {@link #firstEvent}: completed once the first event is ready, or the source failed before it. */
        private final CompletableFuture<Void> first;
        /** Whether an event was emitted (written by the source's signals, or the timer instead of one). */
        private volatile boolean seenEvent;
        /** Why the source ended before the first event, when it did. */
        private volatile Throwable failure;
        /** When {@link #firstEvent} began reading ahead ({@link System#nanoTime()}), and how long it holds keep-alives. */
        private final long readingSince;

        private final long holdNanos;
        /** Whether {@link #first} is settled; owned by the drain loop. */
        private boolean firstSettled;

        private final AtomicLong demand = new AtomicLong();
        private final AtomicInteger wip = new AtomicInteger();
        private volatile Flow.Subscription upstream;
        private volatile boolean upstreamRequested;
        private volatile boolean upstreamDone;
        private volatile boolean cancelled;
        private boolean terminated;
        final SourceWatch watch;

        Relay(Flow.Subscriber<? super List<ByteBuffer>> downstream, CompletableFuture<Void> first, long holdNanos) {
            this.downstream = downstream;
            this.first = first;
            this.readingSince = first != null ? System.nanoTime() : 0;
            this.holdNanos = holdNanos;
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
            if (!onItem(item, emit)) {
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
            if (beforeFirstEvent()) {
                failure = throwable; // nothing was published: the caller answers otherwise
                onSourceError(throwable, DROP);
                upstreamDone = true;
                drain();
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
            onSourceComplete(emit);
            if (beforeFirstEvent()) {
                failure = new java.io.EOFException("the source ended before its first event");
            }
            upstreamDone = true;
            drain();
        }

        /** The source sent nothing within the idle timeout (on the timer's thread, never during a signal). */
        private void timedOut() {
            Flow.Subscription s = upstream;
            if (s != null) {
                s.cancel();
            }
            if (beforeFirstEvent()) {
                failure = new java.util.concurrent.TimeoutException("the source was idle before its first event");
                onSourceIdle(DROP);
                upstreamDone = true;
                drain();
                return;
            }
            onSourceIdle(ready::add);
            upstreamDone = true;
            drain();
        }

        /** Whether {@link #firstEvent} reads ahead and no event has come yet. */
        private boolean beforeFirstEvent() {
            return first != null && !seenEvent;
        }

        /** An item the subclass emitted: until the first event, when reading ahead, only an event is kept. */
        private void emitted(ByteBuffer item) {
            if (!seenEvent && first != null) {
                if (!isEvent(item) && System.nanoTime() - readingSince < holdNanos) {
                    return; // a keep-alive early on: relayed, it would commit the response
                }
                seenEvent = true;
            }
            ready.add(item);
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
            boolean firstReady = false;
            Throwable firstFailed = null;
            do {
                if (terminated || cancelled) {
                    ready.clear();
                    continue;
                }
                Flow.Subscriber<? super List<ByteBuffer>> downstream = this.downstream;
                if (downstream == null) {
                    // Read ahead for the first event, one source item at a time; nobody to publish to yet.
                    if (firstSettled) {
                        continue;
                    }
                    boolean done = upstreamDone; // read first: an event emitted before the end is seen below
                    if (seenEvent) {
                        firstSettled = true;
                        firstReady = true;
                    } else if (done) {
                        firstSettled = true;
                        terminated = true;
                        watch.finish();
                        ready.clear();
                        Throwable why = failure;
                        firstFailed = why != null ? why : new java.io.EOFException("no event");
                    } else if (!upstreamRequested && upstream != null) {
                        upstreamRequested = true;
                        watch.requested(1);
                        upstream.request(1);
                    }
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
            // Outside the loop: what the caller runs next (the response's head, the subscriber) drains again.
            if (firstReady) {
                first.complete(null);
            } else if (firstFailed != null) {
                first.completeExceptionally(firstFailed);
            }
        }
    }
}
