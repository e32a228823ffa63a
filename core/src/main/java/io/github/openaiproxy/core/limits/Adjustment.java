package io.github.openaiproxy.core.limits;

import java.util.Objects;

/**
 * A settlement after the upstream answered: adds {@code delta} (negative to refund an overestimate) to the
 * counter's window that began at {@code windowStartMillis}, without checking the limit. A window that has
 * since ended is left alone: its amounts are gone already.
 *
 * @param settlementId names the settlement, {@code null} for none: a store that remembers it applies the
 *     adjustment of one settlement to one counter at most once, so a settlement applied by the store whose answer
 *     was lost (a timeout, a reset connection), and which the caller therefore applies again later, counts once.
 *     One settlement has at most one adjustment per counter; the ids of different settlements differ. Send a
 *     settlement again whole: {@link JdbcLimitStore} remembers the settlement, not each counter.
 */
public record Adjustment(Counter counter, long windowStartMillis, long delta, String settlementId) {
    public Adjustment {
        Objects.requireNonNull(counter, "counter");
    }

    /** An adjustment without a settlement id: applied as often as it is sent. */
    public Adjustment(Counter counter, long windowStartMillis, long delta) {
        this(counter, windowStartMillis, delta, null);
    }
}
