package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Internal;
import java.time.Duration;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * One named upstream's circuit breaker: after {@code breaker-failures} failures in a row (the failures that are
 * retried: a connection failure, a timeout before the headers, a status of {@code retry-statuses}) the upstream
 * is skipped for {@code breaker-open}; then one trial request goes through (half-open): its success closes the
 * circuit, its failure opens it again. A trial that never reports (its client went away) lets another trial go
 * one interval later.
 *
 * <p>A timeout is reported with its caller ({@link #timeout}): a client decides how long its request takes (a
 * huge {@code max_tokens} on a slow model), so one client could otherwise time out {@code breaker-failures}
 * requests in a row and open the circuit for everyone. A run of failures made only of one caller's timeouts
 * does not open the circuit; it opens once the run also holds another caller's timeout or any other failure
 * (which the upstream causes, not the client).
 *
 * <p>Hand-written rather than resilience4j: core keeps its dependency list short, and this state machine is a
 * few dozen lines. The closed state, every request's path, is one volatile read; the rest takes this object's
 * lock, only while an upstream is failing.
 */
@Internal
public final class CircuitBreaker {
    private static final System.Logger LOG = System.getLogger(CircuitBreaker.class.getName());

    private final String upstream;
    private final int threshold;
    private final long openNanos;
    private final LongSupplier nanoTime;

    /** Failures in a row; written under the lock. */
    private volatile int failures;
    /**
     * The caller whose timeouts are all the failures in a row so far, {@code null} once they are not (another
     * caller's timeout, another failure); under the lock, meaningful while {@code failures > 0}.
     */
    private String onlyCaller;
    /** Whether the circuit is open (or half-open: a trial is out); written under the lock. */
    private volatile boolean open;
    /** The {@code nanoTime} from which the next trial may go; under the lock. */
    private long nextTrial;

    /**
     * A breaker for one upstream.
     *
     * @param threshold the failures in a row that open the circuit; 0: never opens
     * @param open how long the circuit stays open before a trial
     * @param nanoTime the monotonic time, {@link System#nanoTime()} but in tests
     */
    public CircuitBreaker(String upstream, int threshold, Duration open, LongSupplier nanoTime) {
        this.upstream = upstream;
        this.threshold = threshold;
        this.openNanos = open.toNanos();
        this.nanoTime = nanoTime;
    }

    /** Whether a request may be sent now; {@code false}: skip this upstream, it counts as failed. */
    public boolean allow() {
        if (!open) {
            return true;
        }
        synchronized (this) {
            if (!open) {
                return true;
            }
            long now = nanoTime.getAsLong();
            if (now - nextTrial < 0) {
                return false;
            }
            nextTrial = now + openNanos; // this request is the one trial until it reports or the interval passes
            return true;
        }
    }

    /** The upstream answered (any status that is not retried): the circuit closes. */
    public void success() {
        if (open) {
            synchronized (this) {
                if (open) {
                    LOG.log(System.Logger.Level.INFO, "Upstream {0}: circuit closed", upstream);
                }
                open = false;
                failures = 0;
            }
        } else if (failures != 0) {
            synchronized (this) {
                failures = 0;
            }
        }
    }

    /**
     * The upstream failed a request (a connection failure, a status that is retried): counts towards opening, or
     * opens again after a failed trial.
     */
    public void failure() {
        failed(null);
    }

    /**
     * A request of {@code caller} timed out before the upstream's headers: counts towards opening as {@link
     * #failure} does, but one caller's timeouts alone never open the circuit (see the class comment).
     *
     * @param caller who made the request (an identity's kind and subject); {@code null}: unknown, a failure
     */
    public void timeout(String caller) {
        failed(caller);
    }

    /** @param caller the caller whose timeout this is; {@code null}: any other failure */
    private void failed(String caller) {
        if (threshold == 0) {
            return;
        }
        synchronized (this) {
            long now = nanoTime.getAsLong();
            if (open) {
                nextTrial = now + openNanos;
                return;
            }
            if (failures == 0) {
                onlyCaller = caller;
            } else if (onlyCaller != null && !onlyCaller.equals(caller)) {
                onlyCaller = null;
            }
            if (++failures >= threshold && onlyCaller == null) {
                open = true;
                nextTrial = now + openNanos;
                LOG.log(
                        System.Logger.Level.WARNING,
                        "Upstream {0}: circuit open after {1} failures in a row, skipped for {2} ms",
                        upstream,
                        failures,
                        openNanos / 1_000_000);
            }
        }
    }

    /**
     * How long until the next trial may go: what a client skipped by the open circuit is told to wait ({@code
     * retry-after-ms}), so that its SDK does not spend its retries before the circuit half-opens. Empty when the
     * circuit is closed or a trial may go now.
     */
    public Optional<Duration> trialIn() {
        if (!open) {
            return Optional.empty();
        }
        synchronized (this) {
            long left = nextTrial - nanoTime.getAsLong();
            return open && left > 0 ? Optional.of(Duration.ofNanos(left)) : Optional.empty();
        }
    }

    /** Whether the circuit is open or half-open (for tests and health). */
    public boolean isOpen() {
        return open;
    }

    @Override
    public String toString() {
        return "CircuitBreaker[" + upstream + (open ? ", open]" : ", closed]");
    }
}
