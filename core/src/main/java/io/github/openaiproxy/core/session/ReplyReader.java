package io.github.openaiproxy.core.session;

import io.github.openaiproxy.core.flow.Demand;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * Reads a non-streamed reply body into memory up to a limit, so that it can be recorded before it is
 * answered. A body past the limit is not cut: the reader stops reading, and hands back a body that is
 * what it read followed by the rest of the upstream's body, relayed with the client's demand. So the
 * client always gets the whole reply, and memory stays bounded by the limit.
 */
final class ReplyReader implements Flow.Subscriber<List<ByteBuffer>> {
    /** What was read. */
    sealed interface Read {
        /** The whole body, within the limit. */
        record Whole(byte[] bytes) implements Read {}

        /** A body past the limit: to relay, unread beyond its first bytes. */
        record TooLarge(Flow.Publisher<List<ByteBuffer>> body) implements Read {}
    }

    /** Where the reply's prefix is, once the body proved too large. */
    private enum State {
        PENDING,
        DELIVERING,
        RELAYING
    }

    private final long limit;
    private final CompletableFuture<Read> result = new CompletableFuture<>();
    private ByteArrayOutputStream out = new ByteArrayOutputStream();
    private Flow.Subscription upstream;

    // Once too large (guarded by this): the client's subscriber, the bytes read, terminal signals that came first.
    private Flow.Subscriber<? super List<ByteBuffer>> downstream; // null again once cancelled (rule 3.13)
    private boolean attached;
    private List<ByteBuffer> prefix;
    private State state = State.PENDING;
    private long extraDemand;
    private boolean completed;
    private Throwable error;

    private ReplyReader(long limit) {
        this.limit = limit;
    }

    /** Reads {@code body}: whole when it has at most {@code limit} bytes, else as a body to relay. */
    static CompletableFuture<Read> read(Flow.Publisher<List<ByteBuffer>> body, long limit) {
        ReplyReader reader = new ReplyReader(limit);
        body.subscribe(reader);
        return reader.result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        upstream = s;
        s.request(1); // one item at a time: past the limit, nothing more may arrive unasked
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        if (!result.isDone()) {
            for (ByteBuffer b : item) {
                ByteBuffer d = b.duplicate();
                byte[] chunk = new byte[d.remaining()];
                d.get(chunk);
                out.write(chunk, 0, chunk.length);
            }
            if (out.size() > limit) {
                prefix = List.of(ByteBuffer.wrap(out.toByteArray()));
                out = null;
                result.complete(new Read.TooLarge(this::subscribeRest));
            } else {
                upstream.request(1);
            }
            return;
        }
        Flow.Subscriber<? super List<ByteBuffer>> d = downstream;
        if (d != null) { // null once cancelled: an item already on its way is dropped
            d.onNext(item); // only on the client's demand, after the prefix
        }
    }

    @Override
    public void onError(Throwable t) {
        if (!result.isDone()) {
            out = null;
            result.completeExceptionally(t);
            return;
        }
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            if (state != State.RELAYING) {
                error = t;
                return;
            }
            d = downstream;
        }
        if (d != null) {
            d.onError(t);
        }
    }

    @Override
    public void onComplete() {
        if (!result.isDone()) {
            result.complete(new Read.Whole(out.toByteArray()));
            out = null;
            return;
        }
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            if (state != State.RELAYING) {
                completed = true;
                return;
            }
            d = downstream;
        }
        if (d != null) {
            d.onComplete();
        }
    }

    private void subscribeRest(Flow.Subscriber<? super List<ByteBuffer>> client) {
        synchronized (this) {
            if (attached) {
                io.github.openaiproxy.core.flow.Publishers.refuse(client, "the reply body has one subscriber");
                return;
            }
            attached = true;
            downstream = client;
        }
        client.onSubscribe(new Flow.Subscription() {
            @Override
            public void request(long n) {
                if (n <= 0) {
                    cancel();
                    client.onError(Demand.invalid(n));
                    return;
                }
                relay(n);
            }

            @Override
            public void cancel() {
                synchronized (ReplyReader.this) {
                    prefix = null;
                    downstream = null;
                }
                upstream.cancel();
            }
        });
    }

    /** The client's demand: first the bytes read, then the upstream's. */
    private void relay(long n) {
        Flow.Subscriber<? super List<ByteBuffer>> d;
        synchronized (this) {
            d = downstream;
            if (d == null) {
                return; // cancelled (rule 3.6)
            }
            if (state == State.DELIVERING) {
                extraDemand = Demand.add(extraDemand, n); // asked for more while taking the prefix
                return;
            }
            if (state == State.RELAYING) {
                upstream.request(n);
                return;
            }
            state = State.DELIVERING;
        }
        List<ByteBuffer> first = prefix;
        if (first != null) {
            d.onNext(first);
        }
        long more;
        Throwable failed;
        boolean done;
        synchronized (this) {
            prefix = null;
            state = State.RELAYING;
            if (downstream == null) {
                return; // cancelled while the prefix was delivered
            }
            more = Demand.add(n - 1, extraDemand);
            failed = error;
            done = completed;
        }
        if (failed != null) {
            d.onError(failed);
        } else if (done) {
            d.onComplete();
        } else if (more > 0) {
            upstream.request(more);
        }
    }
}
