package io.github.openaiproxy.core.limits;

import java.util.Objects;

/**
 * A settlement after the upstream answered: adds {@code delta} (negative to refund an overestimate) to the
 * counter's window that began at {@code windowStartMillis}, without checking the limit. A window that has
 * since ended is left alone: its amounts are gone already.
 */
public record Adjustment(Counter counter, long windowStartMillis, long delta) {
    public Adjustment {
        Objects.requireNonNull(counter, "counter");
    }
}
