package io.github.openaiproxy.core.flow;

import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicLongFieldUpdater;

/**
 * The idle watch of one source, for {@link EventStream} and {@link Prefetch}: the source's signals are
 * claimed one at a time, and a wait for the source that lasts longer than the shared {@link IdleWatch}'s
 * timeout is ended. A stream's watch keeps one task on the timer, rescheduled about once per timeout (never
 * per item); a body's watch is swept instead (linked into the timer's list while the body is read, so a body
 * costs no timer task). A timeout ends only a wait, never a signal in progress; after it, and after the
 * source ended or was cancelled, the source's late signals are refused. Without a timer it only orders the
 * source's signals against its end.
 */
final class SourceWatch {
    private static final int OPEN = 0; // no signal in progress
    private static final int SIGNALLING = 1; // the source is delivering an item
    private static final int FINISHED = 2; // the source ended, failed, was cancelled or timed out

    private static final AtomicIntegerFieldUpdater<SourceWatch> STATE =
            AtomicIntegerFieldUpdater.newUpdater(SourceWatch.class, "state");
    private static final AtomicLongFieldUpdater<SourceWatch> OUTSTANDING =
            AtomicLongFieldUpdater.newUpdater(SourceWatch.class, "outstanding");

    private final IdleWatch timer; // null: not watched
    private final boolean swept;
    private final Runnable onIdle;
    private volatile int state = OPEN;
    /** Items asked of the source and not yet delivered (only counted with a timer). */
    private volatile long outstanding;
    /** When the source was last asked for more or delivered (only kept with a timer). */
    private volatile long lastActivity;

    /** A stream's check on the timer (not swept). */
    private volatile ScheduledFuture<?> check;

    // A swept watch's place in the timer's list: guarded by the timer's lock.
    SourceWatch sweptPrev;
    SourceWatch sweptNext;
    boolean linked;

    /**
     * @param timer the shared timer, or {@code null} for no idle watch
     * @param swept whether the timer's sweep looks at this source (a body, usually read at once) rather than
     *     a task of its own (a stream, open for long)
     * @param onIdle what a timeout does (cancel the source, say why); runs on the timer's thread, never at the
     *     same time as a source signal, and only once
     */
    SourceWatch(IdleWatch timer, boolean swept, Runnable onIdle) {
        this.timer = timer;
        this.swept = swept;
        this.onIdle = onIdle;
    }

    /** Starts watching, once the source is subscribed. */
    void start() {
        if (timer == null) {
            return;
        }
        if (!swept) {
            schedule(timer.timeoutNanos());
            return;
        }
        timer.link(this);
        if (state == FINISHED) {
            timer.unlink(this); // ended while it was being linked (a source that answers at once)
        }
    }

    /** Call before asking the source for {@code n} more items: from then on the source is awaited. */
    void requested(long n) {
        if (timer != null) {
            lastActivity = System.nanoTime(); // before the demand is visible, so the check never sees an old time
            OUTSTANDING.getAndAccumulate(this, n, Demand::add);
        }
    }

    /** Claims the source side for an item; false once finished or timed out (drop the item). Then {@link #exit}. */
    boolean enterItem() {
        if (!claim(SIGNALLING)) {
            return false;
        }
        if (timer != null) {
            lastActivity = System.nanoTime();
            OUTSTANDING.decrementAndGet(this);
        }
        return true;
    }

    /** The item's signal is over; a finish that came meanwhile stays. */
    void exit() {
        STATE.compareAndSet(this, SIGNALLING, OPEN);
    }

    /** Claims the source's terminal signal: false when it finished already (a timeout won: ignore the signal). */
    boolean end() {
        if (!claim(FINISHED)) {
            return false;
        }
        stop();
        return true;
    }

    /** Moves to {@code next} unless the source finished already. */
    private boolean claim(int next) {
        for (; ; ) {
            int s = state;
            if (s == FINISHED) {
                return false;
            }
            if (STATE.compareAndSet(this, s, next)) {
                return true;
            }
        }
    }

    /** Stops for good (cancelled, or the source is no longer read): later signals are refused. */
    void finish() {
        state = FINISHED;
        stop();
    }

    private void stop() {
        if (swept) {
            if (timer != null) {
                timer.unlink(this);
            }
            return;
        }
        ScheduledFuture<?> f = check;
        if (f != null) {
            f.cancel(false);
        }
    }

    // --- swept: the timer's sweep asks, under its lock, and then expires outside it

    /** Whether the source ended, failed, was cancelled or timed out. */
    boolean finished() {
        return state == FINISHED;
    }

    /** Whether a request to the source has been unanswered for {@code timeoutNanos} or longer at {@code now}. */
    boolean idleAt(long now, long timeoutNanos) {
        // outstanding before lastActivity: requested() writes them in the other order
        return outstanding > 0 && now - lastActivity >= timeoutNanos;
    }

    /**
     * Ends a source the sweep found idle, unless it was answered since. Only from OPEN: a signal in progress
     * wins (the next sweep looks again if the source is still awaited), and a source that ended meanwhile
     * stays as it ended.
     */
    void expire() {
        if (idleAt(System.nanoTime(), timer.timeoutNanos()) && STATE.compareAndSet(this, OPEN, FINISHED)) {
            stop();
            onIdle.run();
        }
    }

    // --- a stream: one task, rescheduled about once per timeout

    private void schedule(long delayNanos) {
        ScheduledFuture<?> next = timer.schedule(this::checkIdle, delayNanos);
        check = next;
        if (next != null && state == FINISHED) {
            next.cancel(false); // finished while this was being scheduled
        }
    }

    private void checkIdle() {
        if (state == FINISHED) {
            return;
        }
        long timeout = timer.timeoutNanos();
        boolean waiting = outstanding > 0;
        long waited = System.nanoTime() - lastActivity;
        // Only from OPEN: an item that arrives at this very moment either wins and is relayed, or loses and is
        // refused (its source is cancelled by onIdle).
        if (waiting && waited >= timeout && STATE.compareAndSet(this, OPEN, FINISHED)) {
            onIdle.run();
            return;
        }
        schedule(waiting ? timeout - waited : timeout);
    }
}
