package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.Demand;
import io.github.openaiproxy.core.flow.Publishers;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads the start of a non-streamed upstream body before the response is committed. A body that ends
 * within the limit (almost every JSON answer) is answered whole, with its exact length, and an upstream
 * that breaks off inside it can still be answered with a clean 502 instead of a truncated body. A longer
 * body (a large {@code b64_json} image) continues as a stream: the prefix, then the rest on demand, so
 * memory stays bounded by the limit.
 *
 * <p>With an idle timer, an upstream that leaves a read unanswered for longer than the timeout is cancelled:
 * before the limit the outcome is {@link Outcome.Broken} with an {@link IdleTimeout}, after it the relayed
 * body fails with one. Only waits for the upstream count; a client that asks for nothing is not timed out.
 */
final class Prefetch extends IdleTimer.Watched implements Flow.Subscriber<List<ByteBuffer>> {
    /** How the prefetch ended. */
    sealed interface Outcome {
        /** The whole body arrived. */
        record Whole(byte[] bytes) implements Outcome {}

        /** The upstream broke off before the body was complete. */
        record Broken(Throwable cause) implements Outcome {}

        /** The body is longer than the limit: relay it from this publisher. */
        record Longer(Flow.Publisher<List<ByteBuffer>> body) implements Outcome {}
    }

    /** The upstream left a read unanswered for longer than the idle timeout. */
    static final class IdleTimeout extends TimeoutException {
        private static final long serialVersionUID = 1L;

        IdleTimeout() {
            super("the upstream sent nothing within the idle timeout");
        }
    }

    private static final Object COMPLETE = new Object();
    // The source side, for the idle watch: a timeout ends only a wait, never a signal in progress.
    private static final int OPEN = 0;
    private static final int SIGNALLING = 1;
    private static final int FINISHED = 2;

    private final IdleTimer idle;
    private final AtomicInteger sourceState = new AtomicInteger(OPEN);
    /** Items requested from the upstream and not yet delivered. */
    private final AtomicLong outstanding = new AtomicLong();
    /** When the upstream was last asked for more or delivered (only kept with an idle timer). */
    private volatile long lastActivity;

    private final int limit;
    private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();
    private final List<byte[]> prefix = new ArrayList<>();
    private long size;
    private Flow.Subscription upstream;

    // Relay mode, after the limit: guarded by this.
    private Flow.Subscriber<? super List<ByteBuffer>> downstream; // null again once cancelled (rule 3.13)
    private boolean attached;
    private boolean prefixSent;
    private boolean deliveringPrefix; // the prefix's onNext is running: signals and demand wait for it (rule 1.3)
    private long demandWhileDelivering;
    private boolean cancelled;
    private Object terminal; // COMPLETE or a Throwable that arrived before the prefix was handed on

    private Prefetch(int limit, IdleTimer idle) {
        this.limit = limit;
        this.idle = idle;
    }

    /** Starts reading {@code body}; the future completes once the body ended or passed {@code limit} bytes. */
    static CompletableFuture<Outcome> read(Flow.Publisher<List<ByteBuffer>> body, int limit) {
        return read(body, limit, null);
    }

    /** As {@link #read(Flow.Publisher, int)}, ending a wait for the upstream longer than {@code idle}'s timeout. */
    static CompletableFuture<Outcome> read(Flow.Publisher<List<ByteBuffer>> body, int limit, IdleTimer idle) {
        Prefetch p = new Prefetch(limit, idle);
        body.subscribe(p);
        return p.outcome;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        upstream = s;
        if (idle != null) {
            lastActivity = System.nanoTime();
            idle.watch(this); // before the first request: a body that ends at once unwatches after this
        }
        requestUpstream(1);
    }

    private void requestUpstream(long n) {
        if (idle != null) {
            lastActivity = System.nanoTime(); // before the demand is visible, so the watch never sees an old time
        }
        Demand.addTo(outstanding, n);
        upstream.request(n);
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        if (!enterSignal()) {
            return; // timed out: the upstream was cancelled
        }
        if (idle != null) {
            lastActivity = System.nanoTime();
        }
        outstanding.decrementAndGet();
        try {
            next(item);
        } finally {
            sourceState.compareAndSet(SIGNALLING, OPEN);
        }
    }

    private void next(List<ByteBuffer> item) {
        if (!outcome.isDone()) {
            for (ByteBuffer b : item) {
                // Copied: the prefix outlives the upstream's buffers.
                byte[] copy = new byte[b.remaining()];
                b.duplicate().get(copy);
                prefix.add(copy);
                size += copy.length;
            }
            if (size > limit) {
                outcome.complete(new Outcome.Longer(this::attach));
            } else {
                requestUpstream(1);
            }
            return;
        }
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            d = downstream;
        }
        if (d != null) { // null once cancelled: an item already on its way is dropped
            d.onNext(item); // only on demand, so the downstream is attached
        }
    }

    @Override
    public void onError(Throwable t) {
        if (!enterSignal()) {
            return;
        }
        sourceState.set(FINISHED);
        stopWatching();
        fail(t);
    }

    private void fail(Throwable t) {
        if (!outcome.isDone()) {
            outcome.complete(new Outcome.Broken(t));
            return;
        }
        terminate(t);
    }

    @Override
    public void onComplete() {
        if (!enterSignal()) {
            return;
        }
        sourceState.set(FINISHED);
        stopWatching();
        if (!outcome.isDone()) {
            outcome.complete(new Outcome.Whole(concat()));
            return;
        }
        terminate(COMPLETE);
    }

    /** Claims the source side for one signal; false once it finished or timed out. */
    private boolean enterSignal() {
        for (; ; ) {
            int state = sourceState.get();
            if (state == FINISHED) {
                return false;
            }
            if (sourceState.compareAndSet(state, SIGNALLING)) {
                return true;
            }
        }
    }

    // --- idle watch: linked into the timer's list while the body is read, looked at once a tick

    @Override
    boolean idleSince(long now, long timeoutNanos) {
        return sourceState.get() != FINISHED && outstanding.get() > 0 && now - lastActivity >= timeoutNanos;
    }

    @Override
    void expire() {
        // Only from OPEN: a signal in progress wins, and the next sweep looks again.
        if (sourceState.compareAndSet(OPEN, FINISHED)) {
            stopWatching();
            upstream.cancel();
            fail(new IdleTimeout());
        }
    }

    private void stopWatching() {
        if (idle != null) {
            idle.unwatch(this);
        }
    }

    private void terminate(Object signal) {
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            if (!prefixSent || deliveringPrefix) {
                terminal = signal; // handed on right after the prefix
                return;
            }
            d = downstream;
        }
        if (d != null) {
            signal(d, signal);
        }
    }

    private void attach(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
        synchronized (this) {
            if (attached) {
                Publishers.refuse(subscriber, "a relayed body can be subscribed once");
                return;
            }
            attached = true;
            downstream = subscriber;
        }
        subscriber.onSubscribe(new Flow.Subscription() {
            @Override
            public void request(long n) {
                if (n <= 0) {
                    cancel();
                    subscriber.onError(Demand.invalid(n));
                    return;
                }
                boolean relaying;
                synchronized (Prefetch.this) {
                    if (cancelled) {
                        return; // rule 3.6
                    }
                    if (deliveringPrefix) {
                        // Asked from within the prefix's onNext: requested once it returns, so the upstream's
                        // next item cannot overlap it.
                        demandWhileDelivering = Demand.add(demandWhileDelivering, n);
                        return;
                    }
                    relaying = prefixSent;
                    prefixSent = true;
                    deliveringPrefix = !relaying;
                }
                if (relaying) {
                    requestUpstream(n); // outside the lock: a synchronous upstream may deliver right away
                    return;
                }
                List<ByteBuffer> first = new ArrayList<>(prefix.size());
                prefix.forEach(b -> first.add(ByteBuffer.wrap(b)));
                prefix.clear();
                subscriber.onNext(first);
                long more;
                Object end;
                synchronized (Prefetch.this) {
                    deliveringPrefix = false;
                    if (cancelled) {
                        return;
                    }
                    more = Demand.add(n - 1, demandWhileDelivering);
                    end = terminal;
                }
                if (end != null) {
                    signal(subscriber, end);
                } else if (more > 0) {
                    requestUpstream(more);
                }
            }

            @Override
            public void cancel() {
                synchronized (Prefetch.this) {
                    cancelled = true;
                    downstream = null;
                }
                sourceState.set(FINISHED);
                stopWatching();
                upstream.cancel();
            }
        });
    }

    private static void signal(Flow.Subscriber<? super List<ByteBuffer>> d, Object signal) {
        if (signal == COMPLETE) {
            d.onComplete();
        } else {
            d.onError((Throwable) signal);
        }
    }

    private byte[] concat() {
        if (prefix.size() == 1) {
            return prefix.remove(0); // arrived in one piece: already a copy of its own
        }
        byte[] all = new byte[(int) size];
        int at = 0;
        for (byte[] b : prefix) {
            System.arraycopy(b, 0, all, at, b.length);
            at += b.length;
        }
        prefix.clear();
        return all;
    }
}
