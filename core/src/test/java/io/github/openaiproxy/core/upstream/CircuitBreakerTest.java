package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The breaker's state machine on a moved clock: closed, open, one trial at a time, closed or open again. */
class CircuitBreakerTest {
    private final AtomicLong now = new AtomicLong(-5_000_000_000L); // nanoTime may be negative
    private final CircuitBreaker breaker = new CircuitBreaker("u", 3, Duration.ofSeconds(10), now::get);

    private void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    @Test
    void opensAfterNFailuresInARowOnly() {
        breaker.failure();
        breaker.failure();
        breaker.success(); // the count is of failures in a row
        breaker.failure();
        breaker.failure();
        assertThat(breaker.allow()).isTrue();
        breaker.failure();
        assertThat(breaker.allow()).isFalse();
        assertThat(breaker.isOpen()).isTrue();
    }

    @Test
    void anOpenCircuitSaysWhenItsTrialMayGo() {
        assertThat(breaker.trialIn()).isEmpty();
        breaker.failure();
        breaker.failure();
        breaker.failure();
        advance(Duration.ofSeconds(4));
        assertThat(breaker.trialIn()).contains(Duration.ofSeconds(6));
        advance(Duration.ofSeconds(6));
        assertThat(breaker.trialIn()).as("a trial may go now").isEmpty();
        assertThat(breaker.allow()).isTrue();
        assertThat(breaker.trialIn())
                .as("the trial is out: the next one after an interval")
                .contains(Duration.ofSeconds(10));
    }

    @Test
    void oneCallersTimeoutsAloneNeverOpenIt() {
        for (int i = 0; i < 10; i++) {
            breaker.timeout("ANONYMOUS:10.0.0.1");
        }
        assertThat(breaker.isOpen()).isFalse();
        // The run now holds another caller's timeout: more than one client sees the upstream slow.
        breaker.timeout("ANONYMOUS:10.0.0.2");
        assertThat(breaker.isOpen()).isTrue();
    }

    @Test
    void aFailureTheUpstreamCausedCountsWithOneCallersTimeouts() {
        breaker.timeout("PROXY_KEY:k1");
        breaker.timeout("PROXY_KEY:k1");
        breaker.failure(); // a 503, a refused connection: not the client's doing
        assertThat(breaker.isOpen()).isTrue();
    }

    @Test
    void aSuccessStartsTheRunAgainWithItsOwnCaller() {
        breaker.timeout("a");
        breaker.timeout("b");
        breaker.success();
        breaker.timeout("a");
        breaker.timeout("a");
        breaker.timeout("a");
        assertThat(breaker.isOpen()).isFalse();
    }

    @Test
    void halfOpenLetsOneTrialThroughWhoseSuccessCloses() {
        open();
        advance(Duration.ofSeconds(10));
        assertThat(breaker.allow()).as("the trial").isTrue();
        assertThat(breaker.allow()).as("only one trial").isFalse();
        breaker.success();
        assertThat(breaker.allow()).isTrue();
        assertThat(breaker.allow()).isTrue();
        assertThat(breaker.isOpen()).isFalse();
    }

    @Test
    void aFailedTrialOpensForAnotherInterval() {
        open();
        advance(Duration.ofSeconds(10));
        assertThat(breaker.allow()).isTrue();
        breaker.failure();
        advance(Duration.ofSeconds(9));
        assertThat(breaker.allow()).isFalse();
        advance(Duration.ofSeconds(1));
        assertThat(breaker.allow()).isTrue();
    }

    @Test
    void aTrialThatNeverReportsLetsAnotherGoOneIntervalLater() {
        open();
        advance(Duration.ofSeconds(10));
        assertThat(breaker.allow()).isTrue(); // its client went away: no success, no failure
        advance(Duration.ofSeconds(10));
        assertThat(breaker.allow()).isTrue();
    }

    @Test
    void zeroFailuresTurnsItOff() {
        CircuitBreaker off = new CircuitBreaker("u", 0, Duration.ofSeconds(10), now::get);
        for (int i = 0; i < 100; i++) {
            off.failure();
        }
        assertThat(off.allow()).isTrue();
        assertThat(off.isOpen()).isFalse();
    }

    private void open() {
        for (int i = 0; i < 3; i++) {
            breaker.failure();
        }
        assertThat(breaker.allow()).isFalse();
    }
}
