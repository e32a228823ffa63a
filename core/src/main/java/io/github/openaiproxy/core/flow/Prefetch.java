package io.github.openaiproxy.core.flow;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeoutException;

/**
 * Reads the start of a body up to a limit. A body that ends within the limit is handed back whole: the
 * engine answers it with its exact length (and an upstream that breaks off inside it with a clean 502
 * instead of a truncated body), sessions record it before it is answered. A longer body (a large
 * {@code b64_json} image) continues as a stream, never cut: the prefix, then the rest on demand, so memory
 * stays bounded by the limit.
 *
 * <p>With an idle timer, an upstream that leaves a read unanswered for longer than the timeout is cancelled:
 * before the limit the outcome is {@link Outcome.Broken} with an {@link IdleTimeout}, after it the relayed
 * body fails with one. Only waits for the upstream count; a client that asks for nothing is not timed out.
 */
public final class Prefetch implements Flow.Subscriber<List<ByteBuffer>> {
    /** How the prefetch ended. */
    public sealed interface Outcome {
        /** The whole body arrived. */
        record Whole(byte[] bytes) implements Outcome {}

        /** The upstream broke off before the body was complete. */
        record Broken(Throwable cause) implements Outcome {}

        /** The body is longer than the limit: relay it from this publisher. */
        record Longer(Flow.Publisher<List<ByteBuffer>> body) implements Outcome {}
    }

    /** The upstream left a read unanswered for longer than the idle timeout. */
    public static final class IdleTimeout extends TimeoutException {
        private static final long serialVersionUID = 1L;

        IdleTimeout() {
            super("the upstream sent nothing within the idle timeout");
        }
    }

    private static final Object COMPLETE = new Object();

    private final SourceWatch watch;
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

    private Prefetch(int limit, IdleWatch idle) {
        this.limit = limit;
        this.watch = new SourceWatch(idle, true, this::timedOut);
    }

    /** Starts reading {@code body}; the future completes once the body ended or passed {@code limit} bytes. */
    public static CompletableFuture<Outcome> read(Flow.Publisher<List<ByteBuffer>> body, int limit) {
        return read(body, limit, null);
    }

    /** As {@link #read(Flow.Publisher, int)}, ending a wait for the upstream longer than {@code idle}'s timeout. */
    public static CompletableFuture<Outcome> read(Flow.Publisher<List<ByteBuffer>> body, int limit, IdleWatch idle) {
        Prefetch p = new Prefetch(limit, idle);
        body.subscribe(p);
        return p.outcome;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        upstream = s;
        requestUpstream(1);
        watch.start();
    }

    private void requestUpstream(long n) {
        watch.requested(n);
        upstream.request(n);
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        if (!watch.enterItem()) {
            return; // timed out or cancelled: the upstream was cancelled
        }
        try {
            next(item);
        } finally {
            watch.exit();
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
        if (watch.end()) {
            fail(t);
        }
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
        if (!watch.end()) {
            return;
        }
        if (!outcome.isDone()) {
            outcome.complete(new Outcome.Whole(concat()));
            return;
        }
        terminate(COMPLETE);
    }

    /** The upstream left a read unanswered too long (on the timer's thread). */
    private void timedOut() {
        upstream.cancel();
        fail(new IdleTimeout());
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
                if (Demand.refused(n, this, subscriber)) {
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
                watch.finish();
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
