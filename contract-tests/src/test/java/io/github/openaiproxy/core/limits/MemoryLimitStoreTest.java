package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.LimitStoreContract;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Core's in-process store passes the kit (its cross-instance tests are skipped: it is one instance's). */
class MemoryLimitStoreTest extends LimitStoreContract {
    private final MemoryLimitStore store = new MemoryLimitStore();

    @Override
    protected LimitStore store() {
        return store;
    }

    /**
     * A budget reserved at 0 (a route the proxy does not estimate) looks unused until its settlement comes; a sweep
     * in between (one per 4,096 reservations) forgets the subject, and the settlement must still count.
     */
    @Test
    void aSettlementAfterTheSweepForgotAZeroReservationStillCounts() {
        Counter budget = new Counter("cost-per-day", 1_000_000, new Window.Calendar(Window.Period.DAY));
        long now = 1_700_000_000_000L;
        Admission zero = store.reserve(new Reservation("p|key:a", List.of(new Charge(budget, 0)), null, now))
                .join();
        for (int i = 0; i < 4096; i++) { // others' reservations, enough for one sweep
            store.reserve(new Reservation("p|key:" + i, List.of(new Charge(budget, 1)), null, now))
                    .join();
        }

        store.adjust(
                        "p|key:a",
                        List.of(new Adjustment(budget, zero.states().get(0).windowStartMillis(), 900_000)),
                        now)
                .join();

        Admission next = store.reserve(new Reservation("p|key:a", List.of(new Charge(budget, 200_000)), null, now))
                .join();
        assertThat(next.admitted())
                .as("900,000 of 1,000,000 used: 200,000 more does not fit")
                .isFalse();
        assertThat(next.states().get(0).used()).isEqualTo(900_000);
    }
}
