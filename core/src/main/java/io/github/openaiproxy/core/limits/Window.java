package io.github.openaiproxy.core.limits;

import java.time.Duration;
import java.time.LocalDate;
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
        MONTH;

        /** The start (epoch ms) of the UTC day or month that holds {@code millis}. */
        public long startOf(long millis) {
            // Epoch-day arithmetic: the same dates as a ZonedDateTime in UTC, without one (a reservation asks often).
            long day = Math.floorDiv(millis, DAY_MILLIS);
            if (this == DAY) {
                return day * DAY_MILLIS;
            }
            return LocalDate.ofEpochDay(day).withDayOfMonth(1).toEpochDay() * DAY_MILLIS;
        }

        /** The start (epoch ms) of the UTC day or month after the one that holds {@code millis}. */
        public long nextAfter(long millis) {
            long day = Math.floorDiv(millis, DAY_MILLIS);
            if (this == DAY) {
                return (day + 1) * DAY_MILLIS;
            }
            return LocalDate.ofEpochDay(day).withDayOfMonth(1).plusMonths(1).toEpochDay() * DAY_MILLIS;
        }

        private static final long DAY_MILLIS = 86_400_000L;
    }
}
