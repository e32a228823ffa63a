package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Flow;

/**
 * The requests under way (waiting for their answer, or relaying its body), so that {@link ProxyEngine#close()} can
 * end them as if their clients had gone while the usage ledger and the limit store are still open: their usage is
 * recorded and their reservations settled, their leases given back. Left to the container they end later: it ends a
 * request it dropped only when it gets to it, and a Spring context closes the engine (and then the ledger and the
 * store) before it destroys the web server that ends them. Ending one cancels it towards the upstream; its
 * subscriber gets no further signal (the container ends the exchange).
 */
final class OpenRequests {
    private final Set<Runnable> open = ConcurrentHashMap.newKeySet();
    private volatile boolean ended;

    /** Tracks an answer still to come: {@link #endAll} cancels it. */
    void track(CompletableFuture<ProxyResponse> answer) {
        Runnable end = () -> answer.cancel(true);
        open.add(end);
        answer.whenComplete((r, e) -> open.remove(end));
        if (ended) {
            end.run();
        }
    }

    /** The answer with a body that {@link #endAll} cancels while it is being relayed. */
    ProxyResponse track(ProxyResponse r) {
        Flow.Publisher<List<ByteBuffer>> body = r.body();
        Flow.Publisher<List<ByteBuffer>> tracked = subscriber -> body.subscribe(new Relayed(subscriber));
        return new ProxyResponse(r.status(), r.headers(), tracked, r.streaming());
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
