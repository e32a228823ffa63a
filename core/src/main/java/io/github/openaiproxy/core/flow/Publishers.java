package io.github.openaiproxy.core.flow;

import java.util.Objects;
import java.util.concurrent.Flow;

/** The smallest publishers, each checked by the Reactive Streams TCK: one item, none, a failure, a refusal. */
public final class Publishers {
    private Publishers() {}

    /** Publishes {@code item} on the first demand, then completes. */
    public static <T> Flow.Publisher<T> just(T item) {
        return new SinglePublisher<>(Objects.requireNonNull(item, "item"));
    }

    /** Completes on the first request, with no item. */
    public static <T> Flow.Publisher<T> empty() {
        return new SinglePublisher<>(null);
    }

    /** Fails every subscriber with {@code error}, right after its {@code onSubscribe}. */
    public static <T> Flow.Publisher<T> failed(Throwable error) {
        Objects.requireNonNull(error, "error");
        return subscriber -> {
            subscriber.onSubscribe(NOTHING);
            subscriber.onError(error);
        };
    }

    /**
     * Turns away a subscriber (a second one of a body that can be read once): a subscription that does nothing,
     * then {@code onError}, as rules 1.9 and 2.13 ask.
     */
    public static void refuse(Flow.Subscriber<?> subscriber, String message) {
        subscriber.onSubscribe(NOTHING);
        subscriber.onError(new IllegalStateException(message));
    }

    /** The subscription of a publisher that has nothing more to say. */
    private static final Flow.Subscription NOTHING = new Flow.Subscription() {
        @Override
        public void request(long n) {}

        @Override
        public void cancel() {}
    };
}
