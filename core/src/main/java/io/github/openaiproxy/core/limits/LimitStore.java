package io.github.openaiproxy.core.limits;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * SPI: where limit counters live. Every instance using the same store (one Redis, one database) sees the same
 * counters, so a limit is exact across instances. Implementations are thread-safe and never block the
 * caller's thread on I/O: they answer with futures, failed with {@link LimitStoreException} when the
 * store is unreachable.
 *
 * <p>Counters are keyed by the reservation's subject and the counter's name; two counters of one subject
 * with the same name are the same counter. The contract kit {@code LimitStoreContract} (test-kit) is what
 * an implementation must pass.
 */
public interface LimitStore extends AutoCloseable {
    /**
     * Atomically: when every charge fits its counter's limit (used + amount &lt;= limit, in the counter's
     * current window), makes them all; otherwise makes none. A store that remembers {@link
     * Reservation#reservationId}s (Redis) makes a reservation of one id once, and answers a copy with the counters.
     */
    CompletableFuture<Admission> reserve(Reservation reservation);

    /**
     * Settles: applies each adjustment to its window (if still current), without limit checks. A store that
     * remembers {@link Adjustment#settlementId}s (Redis, JDBC) skips an adjustment of a settlement it applied already;
     * the JDBC store remembers a settlement whole, so a settlement is sent again with all its adjustments.
     */
    CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long nowMillis);

    /** Gives back the concurrency lease {@code leaseId} on the lease counter {@code counter}. */
    CompletableFuture<Void> release(String subject, Counter counter, String leaseId);

    /**
     * A request's end in one go: applies {@code adjustments} as {@link #adjust} does and gives back the lease
     * {@code leaseId} on {@code leaseCounter} as {@link #release} does. A store that can do both in one round trip
     * overrides this; the default does one, then the other, without waiting between them.
     *
     * <p>The future fails when the adjustments may not have been applied (the caller keeps them to apply later);
     * a lease that could not be given back is not reported: it expires after its maximum hold.
     */
    default CompletableFuture<Void> settle(
            String subject, List<Adjustment> adjustments, Counter leaseCounter, String leaseId, long nowMillis) {
        CompletableFuture<Void> adjusted = adjust(subject, adjustments, nowMillis);
        CompletableFuture<Void> released;
        try {
            released = release(subject, leaseCounter, leaseId).exceptionally(e -> null);
        } catch (RuntimeException e) {
            released = CompletableFuture.completedFuture(null);
        }
        return adjusted.thenCombine(released, (a, b) -> null);
    }

    /**
     * Counts what was used while the store did not answer: adds {@code charge} to its counter's current window
     * (beginning it when none is) whatever the limit, so a counter may end over it. A store that remembers {@code
     * chargeId}s (Redis, JDBC) counts a charge of one id once: one it applied but whose answer was lost, and which
     * the caller therefore sends again later, is not counted again. A lease is never counted so.
     *
     * <p>The default reserves nothing on the counter (which begins its window when none is current), then adds the
     * charge with {@link #adjust} to that window, as a settlement named {@code chargeId}.
     */
    default CompletableFuture<Void> count(String subject, Charge charge, String chargeId, long nowMillis) {
        if (charge.counter().window() instanceof Window.Lease || charge.amount() == 0) {
            return CompletableFuture.completedFuture(null);
        }
        Counter counter = charge.counter();
        return reserve(new Reservation(subject, List.of(new Charge(counter, 0)), null, nowMillis))
                .thenCompose(admission -> adjust(
                        subject,
                        List.of(new Adjustment(
                                counter, admission.states().get(0).windowStartMillis(), charge.amount(), chargeId)),
                        nowMillis));
    }

    /** A short name for logs and the start-up line: {@code memory}, {@code jdbc}, {@code redis}. */
    String kind();

    @Override
    default void close() {}
}
