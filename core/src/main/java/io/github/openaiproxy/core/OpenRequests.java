package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The requests under way (waiting for their answer, or relaying its body), so that {@link ProxyEngine#close()} can
 * end them as if their clients had gone while the usage ledger and the limit store are still open: their usage is
 * recorded and their reservations settled, their leases given back. Left to the container they end later: it ends a
 * request it dropped only when it gets to it, and a Spring context closes the engine (and then the ledger and the
 * store) before it destroys the web server that ends them. Ending one cancels it towards the upstream; its
 * subscriber gets no further signal (the container ends the exchange). An answer nobody reads yet is discarded. One
 * that another thread is ending meanwhile is no longer here: close() waits for its settlement in the limit step.
 */
final class OpenRequests {
    private final Set<Runnable> open = ConcurrentHashMap.newKeySet();
    private volatile boolean ended;

    /** Tracks an answer still to come: {@link #endAll} runs {@code end} (which completes or cancels it). */
    void track(CompletableFuture<ProxyResponse> answer, Runnable end) {
        open.add(end);
        answer.whenComplete((r, e) -> open.remove(end));
        if (ended) {
            end.run();
        }
    }

    /**
     * The answer with a body that {@link #endAll} cancels while it is being relayed, or discards while nobody reads
     * it yet (handed to the container, whose thread that would write it has not run): its usage is recorded then,
     * not when that thread comes, after the ledger closed. A subscriber that comes after that gets an error.
     */
    ProxyResponse track(ProxyResponse r) {
        Unread unread = new Unread(r.body());
        open.add(unread);
        if (ended) {
            unread.run();
        }
        return new ProxyResponse(r.status(), r.headers(), unread, r.streaming());
    }

    /** Ends every request under way, and any tracked from now on. */
    void endAll() {
        ended = true;
        for (Runnable end : open) {
            try {
                end.run();
            } catch (RuntimeException e) {
                // a body that failed to cancel ends by itself
            }
        }
    }

    private static final int UNREAD = 0;
    private static final int READ = 1;
    private static final int DISCARDED = 2;

    /** A body not subscribed yet: {@link #endAll} discards it (its usage recorded); once subscribed, relayed. */
    private final class Unread implements Flow.Publisher<List<ByteBuffer>>, Runnable {
        private final Flow.Publisher<List<ByteBuffer>> body;
        private final AtomicInteger state = new AtomicInteger(UNREAD);

        Unread(Flow.Publisher<List<ByteBuffer>> body) {
            this.body = body;
        }

        /** The end {@link #endAll} runs. */
        @Override
        public void run() {
            open.remove(this);
            if (state.compareAndSet(UNREAD, DISCARDED)) {
                Bodies.discard(body);
            }
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
            Objects.requireNonNull(subscriber, "subscriber");
            if (state.compareAndSet(UNREAD, READ)) {
                open.remove(this); // Relayed tracks it from its onSubscribe on
                body.subscribe(new Relayed(subscriber));
            } else if (state.get() == DISCARDED) {
                subscriber.onSubscribe(NOTHING);
                subscriber.onError(new CancellationException("the proxy closed before this answer was relayed"));
            } else {
                body.subscribe(subscriber); // a second subscriber: the body's own answer to it
            }
        }
    }

    private static final Flow.Subscription NOTHING = new Flow.Subscription() {
        @Override
        public void request(long n) {}

        @Override
        public void cancel() {}
    };

    private final class Relayed extends ForwardingSubscriber<List<ByteBuffer>> {
        private final Runnable end = this::cancelUpstream;

        Relayed(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            super(downstream);
        }

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            open.add(end);
            super.onSubscribe(subscription);
            if (ended) {
                end.run();
            }
        }

        @Override
        public void onError(Throwable error) {
            open.remove(end);
            super.onError(error);
        }

        @Override
        public void onComplete() {
            open.remove(end);
            super.onComplete();
        }

        @Override
        public void cancel() {
            open.remove(end);
            super.cancel();
        }

        private void cancelUpstream() {
            open.remove(end);
            super.cancel();
        }
    }
}
