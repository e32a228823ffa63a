package io.github.openaiproxy.core.flow;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A body's watch on the timer's sweep keeps the guarantees of a stream's own check. */
class SourceWatchSweepTest {
    private static final Duration IDLE = Duration.ofMillis(20); // a sweep every 2.5 ms

    @Test
    void aSweptSourceIsEndedOnlyBetweenSignalsOnlyOnceAndRefusesWhatComesLate() throws Exception {
        try (IdleWatch timer = new IdleWatch(IDLE)) {
            AtomicInteger timeouts = new AtomicInteger();
            CountDownLatch timedOut = new CountDownLatch(1);
            SourceWatch watch = new SourceWatch(timer, true, () -> {
                timeouts.incrementAndGet();
                timedOut.countDown();
            });
            watch.requested(2);
            watch.start();
            assertThat(watch.enterItem()).isTrue(); // an item's signal starts, and takes long

            // Ten timeouts, some eighty sweeps: what is asserted is that none ends the signal in progress.
            assertThat(timedOut.await(IDLE.toMillis() * 10, TimeUnit.MILLISECONDS))
                    .isFalse();
            assertThat(timer.pending()).as("still watched").isEqualTo(1);

            watch.exit(); // the item is over; the second one has been awaited since it started
            assertThat(timedOut.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(watch.enterItem()).as("a late item").isFalse();
            assertThat(watch.end()).as("a late end").isFalse();
            assertThat(timer.pending()).isZero();
            assertThat(timeouts).hasValue(1);
        }
    }

    @Test
    void aSweptSourceNotWaitedForIsNeverEnded() throws Exception {
        try (IdleWatch timer = new IdleWatch(IDLE)) {
            CountDownLatch timedOut = new CountDownLatch(1);
            SourceWatch watch = new SourceWatch(timer, true, timedOut::countDown);
            watch.requested(1);
            watch.start();
            assertThat(watch.enterItem()).isTrue();
            watch.exit(); // all that was asked for arrived: nothing is awaited

            // What is asserted is that nothing happens meanwhile.
            assertThat(timedOut.await(IDLE.toMillis() * 10, TimeUnit.MILLISECONDS))
                    .isFalse();
            assertThat(watch.end()).isTrue();
            assertThat(timer.pending()).isZero();
        }
    }
}
