package io.github.openaiproxy.core.limits;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters in this process: exact for one instance, the default. A subject's counters sit behind one lock,
 * held for the few comparisons of a reservation; answers are already completed futures.
 */
public final class MemoryLimitStore implements LimitStore {
    /** Subjects whose windows all ended are dropped every this many reservations (anonymous callers come and go). */
    private static final int SWEEP_EVERY = 4096;

    private final Map<String, Subject> subjects = new ConcurrentHashMap<>();
    private final AtomicLong reservations = new AtomicLong();

    @Override
    public CompletableFuture<Admission> reserve(Reservation reservation) {
        long now = reservation.nowMillis();
        if (reservations.incrementAndGet() % SWEEP_EVERY == 0) {
            sweep(now);
        }
        while (true) {
            Subject subject = subjects.computeIfAbsent(reservation.subject(), s -> new Subject());
            synchronized (subject) {
                // A sweep may have dropped this subject between the look-up and the lock: counting on the
                // dropped one would lose the charges, so look it up again.
                if (!subject.dropped) {
                    return reserve(subject, reservation, now);
                }
            }
        }
    }

    private static CompletableFuture<Admission> reserve(Subject subject, Reservation reservation, long now) {
        List<Charge> charges = reservation.charges();
        int refused = -1;
        for (int i = 0; i < charges.size() && refused < 0; i++) {
            Charge c = charges.get(i);
            // amount > limit - used, not used + amount > limit: a huge amount must not overflow into a fit.
            if (c.amount()
                    > c.counter().limit() - subject.slot(c.counter(), now).used(now)) {
                refused = i;
            }
        }
        List<Admission.CounterState> states = new ArrayList<>(charges.size());
        for (Charge c : charges) {
            Slot slot = subject.slot(c.counter(), now);
            if (refused < 0) {
                slot.add(c.amount(), reservation.leaseId(), now);
            }
            states.add(slot.state(now));
        }
        subject.lastUse = now;
        return CompletableFuture.completedFuture(new Admission(refused < 0, refused, states));
    }

    @Override
    public CompletableFuture<Void> adjust(String subjectName, List<Adjustment> adjustments, long nowMillis) {
        boolean charges = false;
        for (Adjustment a : adjustments) {
            charges |= a.delta() > 0;
        }
        while (true) {
            // A charge goes to its window even when a sweep forgot the subject meanwhile (a calendar window that
            // reserved 0 looks unused until its settlement comes); a refund to a forgotten one has nothing to lower.
            Subject subject =
                    charges ? subjects.computeIfAbsent(subjectName, s -> new Subject()) : subjects.get(subjectName);
            if (subject == null) {
                return CompletableFuture.completedFuture(null);
            }
            synchronized (subject) {
                if (subject.dropped) {
                    continue; // dropped between the look-up and the lock: look it up again
                }
                for (Adjustment a : adjustments) {
                    subject.slot(a.counter(), nowMillis).adjust(a.windowStartMillis(), a.delta(), nowMillis);
                }
                subject.lastUse = nowMillis;
            }
            return CompletableFuture.completedFuture(null);
        }
    }

    @Override
    public CompletableFuture<Void> release(String subjectName, Counter counter, String leaseId) {
        Subject subject = subjects.get(subjectName);
        if (subject != null) {
            synchronized (subject) {
                Slot slot = subject.slots.get(counter.name());
                if (slot instanceof LeaseSlot leases) {
                    leases.held.remove(leaseId);
                }
            }
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public String kind() {
        return "memory";
    }

    private void sweep(long now) {
        for (Iterator<Subject> it = subjects.values().iterator(); it.hasNext(); ) {
            Subject s = it.next();
            synchronized (s) {
                if (s.idle(now)) {
                    s.dropped = true;
                    it.remove();
                }
            }
        }
    }

    /** One subject's counters by name; guarded by the subject's monitor. */
    private static final class Subject {
        final Map<String, Slot> slots = new HashMap<>(4);
        long lastUse;
        /** Set when a sweep dropped the subject from the map: a reservation holding it looks it up again. */
        boolean dropped;

        Slot slot(Counter counter, long now) {
            Slot slot = slots.get(counter.name());
            if (slot == null || !slot.fits(counter.window())) {
                slot = Slot.of(counter.window(), now);
                slots.put(counter.name(), slot);
            }
            return slot;
        }

        boolean idle(long now) {
            for (Slot s : slots.values()) {
                if (!s.over(now)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** {@code used + delta}, never below zero and saturated rather than overflowing. */
    static long settle(long used, long delta) {
        long sum = used + delta;
        if (((used ^ sum) & (delta ^ sum)) < 0) { // overflow: only a huge positive delta gets here
            return Long.MAX_VALUE;
        }
        return Math.max(0, sum);
    }

    /** A counter's state. */
    private abstract static class Slot {
        static Slot of(Window window, long now) {
            if (window instanceof Window.Rolling r) {
                return new RollingSlot(r);
            }
            if (window instanceof Window.Calendar c) {
                return new CalendarSlot(c);
            }
            return new LeaseSlot((Window.Lease) window);
        }

        abstract boolean fits(Window window);

        abstract long used(long now);

        abstract void add(long amount, String leaseId, long now);

        abstract void adjust(long windowStart, long delta, long now);

        abstract Admission.CounterState state(long now);

        /** Whether nothing is counted any more (the slot can be forgotten). */
        abstract boolean over(long now);
    }

    private static final class RollingSlot extends Slot {
        final Window.Rolling window;
        long start = Long.MIN_VALUE;
        long used;

        RollingSlot(Window.Rolling window) {
            this.window = window;
        }

        @Override
        boolean fits(Window w) {
            return window.equals(w);
        }

        private long length() {
            return window.length().toMillis();
        }

        private boolean ended(long now) {
            return start == Long.MIN_VALUE || now >= start + length();
        }

        @Override
        long used(long now) {
            return ended(now) ? 0 : used;
        }

        @Override
        void add(long amount, String leaseId, long now) {
            if (ended(now)) {
                start = now; // the window begins with the first charge after the last one ended
                used = 0;
            }
            used += amount;
        }

        @Override
        void adjust(long windowStart, long delta, long now) {
            if (!ended(now) && start == windowStart) {
                used = settle(used, delta);
            }
        }

        @Override
        Admission.CounterState state(long now) {
            long s = ended(now) ? now : start;
            return new Admission.CounterState(used(now), s, s + length());
        }

        @Override
        boolean over(long now) {
            return ended(now);
        }
    }

    private static final class CalendarSlot extends Slot {
        final Window.Calendar window;
        long start = Long.MIN_VALUE;
        long used;

        CalendarSlot(Window.Calendar window) {
            this.window = window;
        }

        @Override
        boolean fits(Window w) {
            return window.equals(w);
        }

        @Override
        long used(long now) {
            return window.period().startOf(now) == start ? used : 0;
        }

        @Override
        void add(long amount, String leaseId, long now) {
            roll(now);
            used += amount;
        }

        private void roll(long now) {
            long p = window.period().startOf(now);
            if (p != start) {
                start = p;
                used = 0;
            }
        }

        @Override
        void adjust(long windowStart, long delta, long now) {
            if (windowStart == window.period().startOf(now)) {
                roll(now);
                used = settle(used, delta);
            }
        }

        @Override
        Admission.CounterState state(long now) {
            long p = window.period().startOf(now);
            return new Admission.CounterState(used(now), p, window.period().nextAfter(now));
        }

        @Override
        boolean over(long now) {
            return used(now) == 0;
        }
    }

    private static final class LeaseSlot extends Slot {
        final Window.Lease window;
        final Map<String, Long> held = new HashMap<>();

        LeaseSlot(Window.Lease window) {
            this.window = window;
        }

        @Override
        boolean fits(Window w) {
            return window.equals(w);
        }

        private void expire(long now) {
            held.values().removeIf(expiry -> expiry <= now);
        }

        @Override
        long used(long now) {
            expire(now);
            return held.size();
        }

        @Override
        void add(long amount, String leaseId, long now) {
            if (amount > 0) {
                held.put(leaseId == null ? "" : leaseId, now + window.maxHold().toMillis());
            }
        }

        @Override
        void adjust(long windowStart, long delta, long now) {
            // Leases are taken and given back, never settled.
        }

        @Override
        Admission.CounterState state(long now) {
            expire(now);
            long first = Long.MAX_VALUE;
            for (long expiry : held.values()) {
                first = Math.min(first, expiry);
            }
            return new Admission.CounterState(held.size(), 0, held.isEmpty() ? now : first);
        }

        @Override
        boolean over(long now) {
            return used(now) == 0;
        }
    }
}
