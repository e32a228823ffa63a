package io.github.openaiproxy.core.limits;

import java.time.Duration;
import java.util.Objects;

/** How a counter's amounts expire. */
public sealed interface Window {
    /**
     * A window that starts at the first charge after the previous one ended and lasts {@code length}: the
     * counter then starts again from zero (the rate limits: requests and tokens per minute, hour, day).
     */
    record Rolling(Duration length) implements Window {
        public Rolling {
            Objects.requireNonNull(length, "length");
            if (length.isNegative() || length.isZero()) {
                throw new IllegalArgumentException("length must be positive: " + length);
            }
        }
    }

    /** A UTC calendar day or month (the budgets): what was spent on that day or in that month. */
    record Calendar(Period period) implements Window {
        public Calendar {
            Objects.requireNonNull(period, "period");
        }
    }

    /**
     * Concurrency: the counter is the number of leases held. A lease is given back by {@link
     * LimitStore#release}, or expires {@code maxHold} after it was taken (an instance that died holding it).
     */
    record Lease(Duration maxHold) implements Window {
        public Lease {
            Objects.requireNonNull(maxHold, "maxHold");
        }
    }

    /** Calendar periods, in UTC. */
    enum Period {
        DAY,
        MONTH
    }
}
