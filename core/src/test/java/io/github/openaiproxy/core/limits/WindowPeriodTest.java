package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The UTC days and months of the budgets, against the calendar of {@code java.time}. */
class WindowPeriodTest {
    private static long startOf(Window.Period p, long millis) {
        LocalDate day = Instant.ofEpochMilli(millis).atZone(ZoneOffset.UTC).toLocalDate();
        return (p == Window.Period.DAY ? day : day.withDayOfMonth(1))
                .atStartOfDay(ZoneOffset.UTC)
                .toInstant()
                .toEpochMilli();
    }

    private static long nextAfter(Window.Period p, long millis) {
        LocalDate day = Instant.ofEpochMilli(millis).atZone(ZoneOffset.UTC).toLocalDate();
        return (p == Window.Period.DAY ? day.plusDays(1) : day.withDayOfMonth(1).plusMonths(1))
                .atStartOfDay(ZoneOffset.UTC)
                .toInstant()
                .toEpochMilli();
    }

    @Test
    void daysAndMonthsAreTheCalendars() {
        Random r = new Random(3);
        long[] edges = {
            0,
            -1,
            1,
            Instant.parse("2024-02-29T23:59:59.999Z").toEpochMilli(),
            Instant.parse("2024-03-01T00:00:00Z").toEpochMilli(),
            Instant.parse("2025-12-31T23:59:59.999Z").toEpochMilli(),
            Instant.parse("1969-12-31T23:59:59.999Z").toEpochMilli(),
            Instant.parse("1900-02-28T12:00:00Z").toEpochMilli()
        };
        for (Window.Period p : Window.Period.values()) {
            for (long t : edges) {
                assertThat(p.startOf(t)).as("%s start of %s", p, t).isEqualTo(startOf(p, t));
                assertThat(p.nextAfter(t)).as("%s after %s", p, t).isEqualTo(nextAfter(p, t));
            }
            for (int i = 0; i < 100_000; i++) {
                long t = r.nextLong() % 20_000_000_000_000L; // about 600 years either side of 1970
                assertThat(p.startOf(t)).as("%s start of %s", p, t).isEqualTo(startOf(p, t));
                assertThat(p.nextAfter(t)).as("%s after %s", p, t).isEqualTo(nextAfter(p, t));
            }
        }
    }
}
