package io.github.openaiproxy.core.flow;

import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Demand counting as the Flow rules want it, for the hand-written publishers: requests add up, and a total
 * past {@link Long#MAX_VALUE} is unbounded demand (rule 3.17), never an overflow to a negative count.
 */
public final class Demand {
    private Demand() {}

    /** {@code current + n}, saturated at {@link Long#MAX_VALUE}; both are non-negative. */
    public static long add(long current, long n) {
        long sum = current + n;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * Adds {@code n} (positive) to a demand counter and returns the demand before it; {@code 0} means the
     * caller found the subscription idle and should start delivering. No allocation: the accumulator is a
     * constant.
     */
    public static long addTo(AtomicLong demand, long n) {
        return demand.getAndAccumulate(n, Demand::add);
    }

    /** The error a subscription signals for {@code request(n)} with {@code n <= 0} (rule 3.9). */
    public static IllegalArgumentException invalid(long n) {
        return new IllegalArgumentException("non-positive request: " + n + " (Reactive Streams rule 3.9)");
    }

    /**
     * Rule 3.9 for {@code subscription.request(n)}: when {@code n} is not positive, cancels the subscription,
     * signals {@link #invalid} to its subscriber and returns true (the caller returns); else returns false.
     */
    public static boolean refused(long n, Flow.Subscription subscription, Flow.Subscriber<?> subscriber) {
        if (n > 0) {
            return false;
        }
        subscription.cancel();
        subscriber.onError(invalid(n));
        return true;
    }
}
