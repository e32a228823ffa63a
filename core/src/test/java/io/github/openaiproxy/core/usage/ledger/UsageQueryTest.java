package io.github.openaiproxy.core.usage.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The text parameters of the admin API and the command line: good ones parsed, bad ones named. */
class UsageQueryTest {
    private static final Instant NOW = Instant.parse("2026-06-15T12:00:00Z");

    @Test
    void relativeAndAbsoluteTimesAndDefaults() {
        UsageQuery q = UsageQuery.parse("7d", null, null, null, null, null, NOW);
        assertThat(q.since()).isEqualTo(NOW.minus(Duration.ofDays(7)));
        assertThat(q.until()).isEqualTo(NOW);
        assertThat(q.by()).isEqualTo(UsageQuery.By.KEY);
        assertThat(q.limit()).isEqualTo(UsageQuery.DEFAULT_LIMIT);
        UsageQuery r = UsageQuery.parse("2026-06-01T00:00:00Z", "24h", "MODEL", "key_1", "user:alice", "10", NOW);
        assertThat(r.since()).isEqualTo(Instant.parse("2026-06-01T00:00:00Z"));
        assertThat(r.until()).isEqualTo(NOW.minus(Duration.ofHours(24)));
        assertThat(r.by()).isEqualTo(UsageQuery.By.MODEL);
        assertThat(r.keyId()).isEqualTo("key_1");
        assertThat(r.identityKind()).isEqualTo("USER");
        assertThat(r.identityId()).isEqualTo("alice");
        assertThat(r.limit()).isEqualTo(10);
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "           | | key   | | | | since",
                "-7d        | | key   | | | | since",
                "999999d    | | key   | | | | since",
                "3661d      | | key   | | | | since",
                "7 days     | | key   | | | | since",
                "7d         | 8d | key | | | | until",
                "7d         | | bogus | | | | by",
                "7d         | | key;DROP | | | | by",
                "7d         | | key   | | alice | | identity",
                "7d         | | key   | | ROOT:alice | | identity",
                "7d         | | key   | | | 0 | limit",
                "7d         | | key   | | | -5 | limit",
                "7d         | | key   | | | 10001 | limit",
                "7d         | | key   | | | ten | limit",
                "+1000000000-01-01T00:00:00Z | | key | | | | since",
            })
    void badParametersAreNamed(
            String since, String until, String by, String key, String identity, String limit, String parameter) {
        assertThatThrownBy(() -> UsageQuery.parse(since, until, by, key, identity, limit, NOW))
                .isInstanceOfSatisfying(
                        InvalidUsageQueryException.class,
                        e -> assertThat(e.parameter()).isEqualTo(parameter));
    }

    @Test
    void hugeOrControlKeyIdsAreRefused() {
        assertThatThrownBy(() -> UsageQuery.parse("7d", null, "key", "k".repeat(201), null, null, NOW))
                .isInstanceOfSatisfying(
                        InvalidUsageQueryException.class,
                        e -> assertThat(e.parameter()).isEqualTo("key"));
        assertThatThrownBy(() -> UsageQuery.parse("7d", null, "key", "a\nb", null, null, NOW))
                .isInstanceOf(InvalidUsageQueryException.class);
    }
}
