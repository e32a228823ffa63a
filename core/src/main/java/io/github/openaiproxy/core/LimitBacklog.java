package io.github.openaiproxy.core;

import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Charge;
import io.github.openaiproxy.core.limits.LimitStore;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * What was used while the limit store was down ("allow and count later"): charges and settlements kept in
 * memory, bounded, and applied once the store answers again. A charge is added to the counter's current window
 * whatever the limit ({@link LimitStore#count}): what was used is counted, even over the limit. Every entry is
 * named (a charge by an id of its own, a settlement by its request's), so one the store applied but whose answer
 * was lost, kept and replayed again, counts once. Full: the newest is dropped, counted and logged.
 */
final class LimitBacklog {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());
    /** The most entries kept; one request leaves a few. */
    static final int CAPACITY = 100_000;

    private final LimitStore store;
    private final LongSupplier clock;
    private final Supplier<String> ids;
    private final int capacity;
    private final Queue<Entry> entries = new ConcurrentLinkedQueue<>();
    private final AtomicInteger size = new AtomicInteger();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicBoolean draining = new AtomicBoolean();

    /**
     * A charge (with its id) or a settlement (whole: a store may remember a settlement's id for all its adjustments)
     * waiting for the store.
     */
    private record Entry(String subject, Charge charge, String chargeId, List<Adjustment> adjustments) {}

    /** {@code ids} names the charges kept: unique across the instances sharing the store. */
    LimitBacklog(LimitStore store, LongSupplier clock, Supplier<String> ids, int capacity) {
        this.store = store;
        this.clock = clock;
        this.ids = ids;
        this.capacity = capacity;
    }

    /** Keeps a charge the store could not take. */
    void charge(String subject, Charge charge) {
        if (charge.amount() > 0) {
            offer(new Entry(subject, charge, ids.get(), null));
        }
    }

    /** Keeps a settlement the store could not take, whole. */
    void adjust(String subject, List<Adjustment> adjustments) {
        List<Adjustment> kept = adjustments.stream().filter(a -> a.delta() != 0).toList();
        if (!kept.isEmpty()) {
            offer(new Entry(subject, null, null, kept));
        }
    }

    private void offer(Entry e) {
        if (size.incrementAndGet() > capacity) {
            size.decrementAndGet();
            long n = dropped.incrementAndGet();
            if (n == 1 || n % 1000 == 0) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "limit store down and its backlog full ({0} entries): {1} charges dropped so far",
                        capacity,
                        n);
            }
            return;
        }
        entries.add(e);
    }

    /** Entries waiting. */
    int size() {
        return size.get();
    }

    /** Entries dropped because the backlog was full. */
    long dropped() {
        return dropped.get();
    }

    /** Applies the backlog, one entry at a time, when the store answered a request (called often: cheap when empty). */
    void drain() {
        if (size.get() == 0 || !draining.compareAndSet(false, true)) {
            return;
        }
        next();
    }

    private void next() {
        Entry e = entries.poll();
        if (e == null) {
            draining.set(false);
            if (!entries.isEmpty()) {
                drain(); // added after the poll, before the flag fell
            }
            return;
        }
        size.decrementAndGet();
        CompletableFuture<Void> applied;
        try {
            applied = apply(e);
        } catch (RuntimeException failed) {
            applied = CompletableFuture.failedFuture(failed);
        }
        applied.whenComplete((v, error) -> {
            if (error != null) {
                offer(e); // still down: kept for the next time it answers
                draining.set(false);
                return;
            }
            next();
        });
    }

    private CompletableFuture<Void> apply(Entry e) {
        long now = clock.getAsLong();
        if (e.adjustments() != null) {
            return store.adjust(e.subject(), e.adjustments(), now);
        }
        return store.count(e.subject(), e.charge(), e.chargeId(), now);
    }
}
