package io.github.openaiproxy.graphql;

import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.route.RouteCall;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Flow;

/**
 * The route call of one GraphQL request as its data fetchers see it: it keeps track of the sub-requests
 * in flight, so that when the client goes away {@link #cancel()} aborts them (their upstream calls
 * included) and refuses any further one.
 *
 * <p>A sub-request is in flight from dispatch until its answer's body has been read: cancelling it before
 * the headers cancels the engine's future (which aborts the upstream exchange); after them, it cancels
 * the body subscription (which closes the upstream connection). A streamed answer (chatStream) is left
 * to its event stream, which the client's departure already cancels.
 */
final class InFlightCalls implements RouteCall {
    private final RouteCall call;
    /** Futures and body subscriptions still running. */
    private final Set<Object> running = ConcurrentHashMap.newKeySet();

    private volatile boolean cancelled;

    InFlightCalls(RouteCall call) {
        this.call = call;
    }

    @Override
    public ProxyRequest request() {
        return call.request();
    }

    @Override
    public byte[] body() {
        return call.body();
    }

    @Override
    public Identity identity() {
        return call.identity();
    }

    @Override
    public CompletableFuture<ProxyResponse> dispatch(ProxyRequest request) {
        if (cancelled) {
            return CompletableFuture.failedFuture(new CancellationException("the client went away"));
        }
        CompletableFuture<ProxyResponse> sent = call.dispatch(request);
        running.add(sent);
        sent.whenComplete((r, e) -> running.remove(sent));
        if (cancelled) {
            sent.cancel(true); // cancel() ran between the check and the add
        }
        return sent.thenApply(
                r -> r.streaming() ? r : new ProxyResponse(r.status(), r.headers(), new Body(r.body()), false));
    }

    /** The client went away: abort the sub-requests in flight and refuse new ones. Idempotent. */
    void cancel() {
        cancelled = true;
        for (Object o : running) {
            if (o instanceof CompletableFuture<?> f) {
                f.cancel(true);
            } else if (o instanceof Flow.Subscription s) {
                s.cancel();
            }
        }
        running.clear();
    }

    boolean cancelled() {
        return cancelled;
    }

    /** A sub-request's answer body whose subscription is cancelled with the call. */
    private final class Body implements Flow.Publisher<List<ByteBuffer>> {
        private final Flow.Publisher<List<ByteBuffer>> source;

        Body(Flow.Publisher<List<ByteBuffer>> source) {
            this.source = source;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
            java.util.Objects.requireNonNull(subscriber, "subscriber"); // rule 1.9
            source.subscribe(new ForwardingSubscriber<List<ByteBuffer>>(subscriber) {
                private Flow.Subscription subscription;
                private boolean refused;

                @Override
                public void onSubscribe(Flow.Subscription s) {
                    subscription = s;
                    running.add(s);
                    if (cancelled) {
                        // cancel() ran before the body was subscribed: close it, and let the reader know.
                        running.remove(s);
                        s.cancel();
                        refused = true;
                        Publishers.<List<ByteBuffer>>failed(new CancellationException("the client went away"))
                                .subscribe(subscriber);
                        return;
                    }
                    super.onSubscribe(s);
                }

                @Override
                public void onNext(List<ByteBuffer> item) {
                    if (!refused) {
                        super.onNext(item);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    running.remove(subscription);
                    if (!refused) {
                        super.onError(t);
                    }
                }

                @Override
                public void onComplete() {
                    running.remove(subscription);
                    if (!refused) {
                        super.onComplete();
                    }
                }

                @Override
                public void cancel() {
                    // The reader left: the call no longer needs to cancel this body (nor hold on to it).
                    running.remove(subscription);
                    super.cancel();
                }
            });
        }
    }
}
