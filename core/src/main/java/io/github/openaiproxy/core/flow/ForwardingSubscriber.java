package io.github.openaiproxy.core.flow;

import java.util.Objects;
import java.util.concurrent.Flow;

/**
 * A tap on a publisher: subscribed to the source, it is the downstream's subscription too, and hands every
 * signal on unchanged. Subclasses watch the items go by (usage, a recorded reply, a released permit) by
 * overriding a signal and calling {@code super}. Demand and cancellation pass straight through: nothing is
 * buffered, and the tap itself is the only object it adds to a stream.
 *
 * @param <T> the items
 */
public abstract class ForwardingSubscriber<T> implements Flow.Subscriber<T>, Flow.Subscription {
    /** Who the signals go to. */
    protected final Flow.Subscriber<? super T> downstream;

    private volatile Flow.Subscription upstream;

    protected ForwardingSubscriber(Flow.Subscriber<? super T> downstream) {
        this.downstream = Objects.requireNonNull(downstream, "subscriber"); // rule 1.9
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
        if (upstream != null) {
            subscription.cancel(); // rule 2.5: one subscription at a time
            return;
        }
        upstream = subscription;
        downstream.onSubscribe(this);
    }

    @Override
    public void onNext(T item) {
        downstream.onNext(item);
    }

    @Override
    public void onError(Throwable error) {
        downstream.onError(error);
    }

    @Override
    public void onComplete() {
        downstream.onComplete();
    }

    @Override
    public void request(long n) {
        upstream.request(n);
    }

    @Override
    public void cancel() {
        upstream.cancel();
    }
}
