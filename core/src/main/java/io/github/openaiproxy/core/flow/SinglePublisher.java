package io.github.openaiproxy.core.flow;

import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;

/** Publishes at most one item, on demand, then completes. A {@code null} item means an empty stream. */
final class SinglePublisher<T> implements Flow.Publisher<T> {
    private final T item;

    SinglePublisher(T item) {
        this.item = item;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super T> subscriber) {
        subscriber.onSubscribe(new Flow.Subscription() {
            // 0 = waiting for demand, 1 = done or cancelled
            private final AtomicInteger state = new AtomicInteger();

            @Override
            public void request(long n) {
                if (n <= 0) {
                    if (state.compareAndSet(0, 1)) {
                        subscriber.onError(Demand.invalid(n));
                    }
                    return;
                }
                if (state.compareAndSet(0, 1)) {
                    if (item != null) {
                        subscriber.onNext(item);
                    }
                    subscriber.onComplete();
                }
            }

            @Override
            public void cancel() {
                state.set(1);
            }
        });
    }
}
