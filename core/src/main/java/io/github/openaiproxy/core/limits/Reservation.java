package io.github.openaiproxy.core.limits;

import java.util.List;
import java.util.Objects;

/**
 * What one request asks of a {@link LimitStore}: every charge fits, or none is made.
 *
 * @param subject whose counters (for example {@code keys|key:k_123}); part of the store's keys, so one
 *     subject's counters can live together (one Redis Cluster slot)
 * @param charges the charges, each to a different counter
 * @param leaseId the id of the concurrency lease, when a charge is on a {@link Window.Lease} counter
 * @param nowMillis the caller's clock (epoch milliseconds); instances sharing a store need synchronized clocks
 * @param reservationId names the reservation, {@code null} for none: a store that remembers it makes a reservation
 *     of this id and subject at most once, and answers a copy (a command its client sent again after the
 *     connection broke before the reply) with the counters as they are, charging nothing more
 */
public record Reservation(String subject, List<Charge> charges, String leaseId, long nowMillis, String reservationId) {
    public Reservation {
        Objects.requireNonNull(subject, "subject");
        charges = List.copyOf(charges);
    }

    /** A reservation without an id: made as often as it is sent. */
    public Reservation(String subject, List<Charge> charges, String leaseId, long nowMillis) {
        this(subject, charges, leaseId, nowMillis, null);
    }
}
