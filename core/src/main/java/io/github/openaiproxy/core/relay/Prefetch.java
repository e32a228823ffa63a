package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.internal.Bodies;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * Reads the start of a non-streamed upstream body before the response is committed. A body that ends
 * within the limit (almost every JSON answer) is answered whole, with its exact length, and an upstream
 * that breaks off inside it can still be answered with a clean 502 instead of a truncated body. A longer
 * body (a large {@code b64_json} image) continues as a stream: the prefix, then the rest on demand, so
 * memory stays bounded by the limit.
 */
final class Prefetch implements Flow.Subscriber<List<ByteBuffer>> {
    /** How the prefetch ended. */
    sealed interface Outcome {
        /** The whole body arrived. */
        record Whole(byte[] bytes) implements Outcome {}

        /** The upstream broke off before the body was complete. */
        record Broken(Throwable cause) implements Outcome {}

        /** The body is longer than the limit: relay it from this publisher. */
        record Longer(Flow.Publisher<List<ByteBuffer>> body) implements Outcome {}
    }

    private static final Object COMPLETE = new Object();

    private final int limit;
    private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();
    private final List<byte[]> prefix = new ArrayList<>();
    private long size;
    private Flow.Subscription upstream;

    // Relay mode, after the limit: guarded by this.
    private Flow.Subscriber<? super List<ByteBuffer>> downstream;
    private boolean prefixSent;
    private Object terminal; // COMPLETE or a Throwable that arrived before the prefix was handed on

    private Prefetch(int limit) {
        this.limit = limit;
    }

    /** Starts reading {@code body}; the future completes once the body ended or passed {@code limit} bytes. */
    static CompletableFuture<Outcome> read(Flow.Publisher<List<ByteBuffer>> body, int limit) {
        Prefetch p = new Prefetch(limit);
        body.subscribe(p);
        return p.outcome;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        upstream = s;
        s.request(1);
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
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
                upstream.request(1);
            }
            return;
        }
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            d = downstream;
        }
        d.onNext(item); // only on demand, so the downstream is attached
    }

    @Override
    public void onError(Throwable t) {
        if (!outcome.isDone()) {
            outcome.complete(new Outcome.Broken(t));
            return;
        }
        terminate(t);
    }

    @Override
    public void onComplete() {
        if (!outcome.isDone()) {
            outcome.complete(new Outcome.Whole(concat()));
            return;
        }
        terminate(COMPLETE);
    }

    private void terminate(Object signal) {
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            if (!prefixSent) {
                terminal = signal; // handed on right after the prefix
                return;
            }
            d = downstream;
        }
        signal(d, signal);
    }

    private void attach(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
        synchronized (this) {
            if (downstream != null) {
                Bodies.refuse(subscriber, "a relayed body can be subscribed once");
                return;
            }
            downstream = subscriber;
        }
        subscriber.onSubscribe(new Flow.Subscription() {
            @Override
            public void request(long n) {
                if (n <= 0) {
                    cancel();
                    subscriber.onError(new IllegalArgumentException("non-positive request: " + n));
                    return;
                }
                boolean sendPrefix;
                Object end;
                synchronized (Prefetch.this) {
                    sendPrefix = !prefixSent;
                    prefixSent = true;
                    end = terminal;
                }
                long more = n;
                if (sendPrefix) {
                    List<ByteBuffer> first = new ArrayList<>(prefix.size());
                    prefix.forEach(b -> first.add(ByteBuffer.wrap(b)));
                    prefix.clear();
                    subscriber.onNext(first);
                    if (end != null) {
                        signal(subscriber, end);
                        return;
                    }
                    more--;
                }
                if (more > 0) {
                    upstream.request(more);
                }
            }

            @Override
            public void cancel() {
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
