package io.github.openaiproxy.testkit;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock a test moves by hand (for retention and expiry tests), starting at 2025-01-01T00:00:00Z. */
public final class ManualClock extends Clock {
    private volatile Instant now = Instant.parse("2025-01-01T00:00:00Z");

    /** Sets the clock to {@code instant} (forward or back). */
    public void set(Instant instant) {
        now = java.util.Objects.requireNonNull(instant, "instant");
    }

    /** Moves the clock forward. */
    public void advance(Duration d) {
        now = now.plus(d);
    }

    @Override
    public ZoneOffset getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }

    @Override
    public Instant instant() {
        return now;
    }
}
