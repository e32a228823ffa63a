package io.github.openaiproxy.core.limits;

import io.github.openaiproxy.core.internal.Internal;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Fails the limit store's answers that come later than a timeout, as {@link CompletableFuture#orTimeout} does, but
 * with one check every {@value #TICK_MILLIS} ms for all the answers waited for: {@code orTimeout} schedules a task
 * per answer on the JDK's timer, whose thread is woken for each (the queue is empty between requests), and those
 * wake-ups cost a request more than the store's work. A timeout fires up to one tick late. The limit step times its
 * waits with it, and so do the stores that time their own commands.
 */
@Internal
public final class StoreDeadlines {
    static final long TICK_MILLIS = 100;

    private final long timeoutNanos;
    /** In the order waited for, so in the order of the deadlines (one timeout for all). */
    private final ConcurrentLinkedQueue<Waited> waited = new ConcurrentLinkedQueue<>();
    /** Whether a check is scheduled; none is while nothing is waited for. */
    private final AtomicBoolean armed = new AtomicBoolean();

    private final Executor tick = CompletableFuture.delayedExecutor(TICK_MILLIS, TimeUnit.MILLISECONDS, Runnable::run);

    private record Waited(CompletableFuture<?> answer, long deadlineNanos) {}

    /** Deadlines {@code timeout} after each answer is waited for. */
    public StoreDeadlines(Duration timeout) {
        this.timeoutNanos = timeout.toNanos();
    }

    /** {@code answer}, failed with a {@link TimeoutException} when not complete within the timeout. */
    public <T> CompletableFuture<T> timed(CompletableFuture<T> answer) {
        if (answer.isDone()) {
            return answer;
        }
        waited.add(new Waited(answer, System.nanoTime() + timeoutNanos));
        if (armed.compareAndSet(false, true)) {
            tick.execute(this::check);
        }
        return answer;
    }

    private void check() {
        long now = System.nanoTime();
        for (Waited w; (w = waited.peek()) != null; ) {
            if (!w.answer().isDone() && w.deadlineNanos() - now > 0) {
                break; // the ones behind it were waited for later
            }
            waited.poll();
            w.answer().completeExceptionally(new TimeoutException());
        }
        armed.set(false);
        // An answer waited for between the loop and the line above found the check still armed: arm it again.
        if (!waited.isEmpty() && armed.compareAndSet(false, true)) {
            tick.execute(this::check);
        }
    }
}
