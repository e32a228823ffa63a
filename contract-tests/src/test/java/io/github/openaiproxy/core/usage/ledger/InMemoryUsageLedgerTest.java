package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testkit.ManualClock;
import io.github.openaiproxy.testkit.UsageLedgerContract;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** The in-memory ledger passes the kit; its retention is judged by a clock the test sets. */
class InMemoryUsageLedgerTest extends UsageLedgerContract {
    private static final Duration RETENTION = Duration.ofDays(30);
    private final ManualClock clock = new ManualClock();
    private final InMemoryUsageLedger ledger = new InMemoryUsageLedger(100_000, RETENTION, clock);

    @Override
    protected UsageQueries queries() {
        return ledger;
    }

    @Override
    protected void write(List<UsageRecord> rows) {
        rows.forEach(ledger::record);
    }

    @Override
    protected void purgeBefore(Instant cutoff) {
        clock.set(cutoff.plus(RETENTION));
    }
}
