package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Charge;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.limits.Window;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What was allowed while the store was down is kept, bounded, and counted once it answers: over the limit too. */
class LimitBacklogTest {
    private static final Counter RPM = new Counter("requests-per-minute", 2, new Window.Rolling(Duration.ofMinutes(1)));

    @Test
    void aFullBacklogDropsAndCountsWhatItCannotKeep() {
        ProxyEngineLimitsTest.FailingStore store = new ProxyEngineLimitsTest.FailingStore();
        store.down.set(true);
        LimitBacklog backlog = new LimitBacklog(store, () -> 1_000L, () -> "c" + System.nanoTime(), 3);

        for (int i = 0; i < 5; i++) {
            backlog.charge("p|anonymous:a", new Charge(RPM, 1));
        }
        assertThat(backlog.size()).isEqualTo(3);
        assertThat(backlog.dropped()).isEqualTo(2);

        backlog.drain(); // still down: every entry stays
        assertThat(backlog.size()).isEqualTo(3);

        store.down.set(false);
        backlog.drain();
        assertThat(backlog.size()).isZero();
        // All three counted, the third over the limit of 2: the next request does not fit.
        Admission a = store.memory
                .reserve(new Reservation("p|anonymous:a", List.of(new Charge(RPM, 1)), null, 1_000L))
                .join();
        assertThat(a.admitted()).isFalse();
        assertThat(a.states().get(0).used()).isEqualTo(3);
    }
}
