package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.UsageQueries;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.core.usage.ledger.UsageSummary;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The usage ledger's compatibility kit: every store that keeps ledger rows (in memory, JDBC on H2 and PostgreSQL)
 * runs it by extending it, writing rows its way and answering the same {@link UsageQueries}. Each test writes rows
 * of its own identities and keys (a fresh random prefix), so one store may serve every test of a class; the sums
 * are checked against the same rows summed here, one by one.
 */
public abstract class UsageLedgerContract {
    /** The queries under test. */
    protected abstract UsageQueries queries();

    /** Writes rows, and returns once a query sees them (a batching ledger flushes). */
    protected abstract void write(List<UsageRecord> rows);

    /** Deletes the rows older than {@code cutoff} (and daily sums of whole days before it), as retention does. */
    protected abstract void purgeBefore(Instant cutoff);

    /** Midnight UTC some days ago, so the rows are within any retention the store has. */
    protected static Instant daysAgo(int days) {
        return LocalDate.now(ZoneOffset.UTC)
                .minusDays(days)
                .atStartOfDay(ZoneOffset.UTC)
                .toInstant();
    }

    /** One row. */
    protected static UsageRecord row(
            Instant at, String keyId, String owner, String policy, String model, long in, long out, long costNano) {
        return new UsageRecord(
                at,
                keyId != null ? "PROXY_KEY" : "USER",
                keyId != null ? keyId : owner == null ? "anon" : owner,
                keyId,
                owner,
                policy,
                "/v1/chat/completions",
                model,
                model == null ? null : model + "-2024-08-06",
                "default",
                200,
                200,
                new TokenUsage(in, in / 4, out, out / 8, 0),
                costNano,
                in % 3 == 0,
                true,
                UsageRecord.Outcome.COMPLETED,
                1234,
                56,
                "req_" + in);
    }

    /** Rows of fresh keys and owners, over {@code days} days, at random times of day. */
    private static List<UsageRecord> randomRows(String tag, int n, int days, long seed) {
        Random random = new Random(seed);
        List<UsageRecord> rows = new ArrayList<>();
        String[] models = {"gpt-4o", "gpt-4o-mini", null};
        String[] policies = {"keys", "premium"};
        for (int i = 0; i < n; i++) {
            Instant at = daysAgo(days).plusSeconds(random.nextInt(days * 86_400));
            int k = random.nextInt(5);
            String keyId = k == 4 ? null : "key_" + tag + k;
            String owner = k == 3 ? null : "owner-" + tag + (k % 2);
            rows.add(row(
                    at,
                    keyId,
                    owner,
                    policies[random.nextInt(2)],
                    models[random.nextInt(3)],
                    random.nextInt(5000),
                    random.nextInt(2000),
                    random.nextInt(1_000_000)));
        }
        return rows;
    }

    /** The rows of {@code q} summed one by one: what every store must answer. */
    protected static List<UsageSummary> expected(List<UsageRecord> rows, UsageQuery q) {
        Map<String, long[]> sums = new HashMap<>();
        for (UsageRecord r : rows) {
            if (r.at().isBefore(q.since())
                    || !r.at().isBefore(q.until())
                    || (q.keyId() != null && !q.keyId().equals(r.keyId()))
                    || (q.identityKind() != null
                            && !(q.identityKind().equals(r.identityKind())
                                    && q.identityId().equals(r.identityId())))) {
                continue;
            }
            String group = switch (q.by()) {
                case KEY -> r.keyId();
                case USER -> r.owner();
                case MODEL -> r.answeringModel() != null ? r.answeringModel() : r.requestedModel();
                case POLICY -> r.policy();
                case DAY -> r.at().atOffset(ZoneOffset.UTC).toLocalDate().toString();
            };
            long[] s = sums.computeIfAbsent(group == null || group.isEmpty() ? "\u0000" : group, g -> new long[8]);
            s[0]++;
            s[1] += r.usage().inputTokens();
            s[2] += r.usage().cachedInputTokens();
            s[3] += r.usage().outputTokens();
            s[4] += r.usage().reasoningTokens();
            s[5] += r.usage().images();
            s[6] += r.costNanoUsd();
            s[7] += r.estimated() ? 1 : 0;
        }
        List<UsageSummary> out = new ArrayList<>();
        sums.forEach((g, s) -> out.add(
                new UsageSummary(g.equals("\u0000") ? null : g, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])));
        out.sort(Comparator.comparing(UsageSummary::group, Comparator.nullsLast(Comparator.naturalOrder())));
        return out;
    }

    private static List<UsageSummary> sortedByGroup(List<UsageSummary> rows) {
        List<UsageSummary> copy = new ArrayList<>(rows);
        copy.sort(Comparator.comparing(UsageSummary::group, Comparator.nullsLast(Comparator.naturalOrder())));
        return copy;
    }

    private static String tag() {
        return UUID.randomUUID().toString().substring(0, 8);
    }

    /**
     * Sums by every grouping, over whole days, partial days at both ends and ranges within one day, filtered by
     * key and by identity, are the rows' own sums: the daily rollups agree with the raw rows.
     */
    @Test
    void sumsMatchTheRowsForEveryGroupingAndRange() {
        String tag = tag();
        List<UsageRecord> rows = randomRows(tag, 600, 10, 42);
        write(rows);
        Instant now = daysAgo(0);
        List<Instant[]> ranges = List.of(
                new Instant[] {daysAgo(10), now}, // whole days only
                new Instant[] {daysAgo(9).plusSeconds(3 * 3600 + 17), now.minusSeconds(5 * 3600)}, // partial ends
                new Instant[] {daysAgo(4).plusSeconds(3600), daysAgo(4).plusSeconds(20 * 3600)}, // within a day
                new Instant[] {daysAgo(6).plusSeconds(22 * 3600), daysAgo(5).plusSeconds(2 * 3600)}, // two part days
                new Instant[] {daysAgo(20), now.plus(Duration.ofDays(2))}); // beyond the rows
        for (Instant[] range : ranges) {
            for (UsageQuery.By by : UsageQuery.By.values()) {
                UsageQuery q = UsageQuery.of(range[0], range[1], by);
                // only this test's rows: filter by one key, and by one identity
                UsageQuery byKey = q.withKeyId("key_" + tag + "1");
                assertThat(sortedByGroup(queries().summarize(byKey)))
                        .as("%s by %s, key", List.of(range), by)
                        .isEqualTo(expected(rows, byKey));
                UsageQuery byUser = q.withIdentity("USER", "owner-" + tag + "0");
                assertThat(sortedByGroup(queries().summarize(byUser)))
                        .as("%s by %s, user", List.of(range), by)
                        .isEqualTo(expected(rows, byUser));
            }
        }
    }

    /** Without a filter every row counts: this test's keys are among the groups with their own sums. */
    @Test
    void unfilteredSumsHoldEachKeysRows() {
        String tag = tag();
        List<UsageRecord> rows = randomRows(tag, 200, 3, 7);
        write(rows);
        UsageQuery q = UsageQuery.of(daysAgo(3), daysAgo(0).plus(Duration.ofDays(1)), UsageQuery.By.KEY);
        List<UsageSummary> answer = queries().summarize(q);
        for (UsageSummary e : expected(rows, q)) {
            if (e.group() != null) {
                assertThat(answer).contains(e);
            }
        }
    }

    /** Rows are answered by cost, largest first (days ascending), and at most the limit of them. */
    @Test
    void ordersByCostAndHonoursTheLimit() {
        String tag = tag();
        Instant at = daysAgo(1).plusSeconds(3600);
        write(List.of(
                row(at, "key_" + tag + "a", null, "keys", "gpt-4o", 10, 10, 5),
                row(at, "key_" + tag + "b", null, "keys", "gpt-4o", 10, 10, 500),
                row(at, "key_" + tag + "c", null, "keys", "gpt-4o", 10, 10, 50)));
        UsageQuery q =
                UsageQuery.of(daysAgo(1), daysAgo(0), UsageQuery.By.KEY).withIdentity("PROXY_KEY", "key_" + tag + "c");
        assertThat(queries().summarize(q)).extracting(UsageSummary::group).containsExactly("key_" + tag + "c");
        List<UsageSummary> all = queries().summarize(UsageQuery.of(at, at.plusSeconds(1), UsageQuery.By.KEY));
        List<String> mine = all.stream()
                .map(UsageSummary::group)
                .filter(g -> g != null && g.startsWith("key_" + tag))
                .toList();
        assertThat(mine).containsExactly("key_" + tag + "b", "key_" + tag + "c", "key_" + tag + "a");
        assertThat(queries()
                        .summarize(UsageQuery.of(at, at.plusSeconds(1), UsageQuery.By.KEY)
                                .withLimit(1)))
                .hasSize(1);
    }

    /** A key id that looks like SQL is a value like any other: it matches only itself, and nothing breaks. */
    @Test
    void sqlLookingKeyIdsAreOnlyValues() {
        String tag = tag();
        String hostile = "k" + tag + "' OR '1'='1";
        Instant at = daysAgo(2).plusSeconds(60);
        write(List.of(
                row(at, hostile, "o'; DROP TABLE x; --", "keys", "gpt-4o", 100, 10, 1),
                row(at, "key_" + tag + "z", null, "keys", "gpt-4o", 100, 10, 1)));
        UsageQuery q = UsageQuery.of(daysAgo(3), daysAgo(0), UsageQuery.By.KEY).withKeyId(hostile);
        assertThat(queries().summarize(q))
                .extracting(UsageSummary::group, UsageSummary::requests)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(hostile, 1L));
        assertThat(queries().summarize(q.withKeyId("' OR '1'='1"))).isEmpty();
        UsageQuery byUser =
                UsageQuery.of(daysAgo(3), daysAgo(0), UsageQuery.By.USER).withKeyId(hostile);
        assertThat(queries().summarize(byUser)).extracting(UsageSummary::group).containsExactly("o'; DROP TABLE x; --");
    }

    /**
     * An empty model name (a client's {@code "model":""}, refused by the upstream, so no model answered) and an
     * empty owner are no value, as a missing one is, whether the rows are summed from the daily rows (which cannot
     * tell the two apart) or from the raw ones: the same rows never split into an empty group and a group of none.
     */
    @Test
    void emptyValuesAreOneGroupWhereverTheyAreSummedFrom() {
        String tag = tag();
        String key = "key_" + tag + "e";
        List<UsageRecord> rows = new ArrayList<>();
        for (Instant at : List.of(daysAgo(4).plusSeconds(3 * 3600), daysAgo(2).plusSeconds(3600))) {
            rows.add(new UsageRecord(
                    at,
                    "PROXY_KEY",
                    key,
                    key,
                    "",
                    "keys",
                    "/v1/chat/completions",
                    "",
                    null,
                    "default",
                    400,
                    400,
                    new TokenUsage(0, 0, 0, 0, 0),
                    0,
                    false,
                    false,
                    UsageRecord.Outcome.COMPLETED,
                    12,
                    -1,
                    null));
        }
        write(rows);
        // From two hours into the first row's day: that day is summed from the raw rows, the other one's whole.
        UsageQuery range = UsageQuery.of(daysAgo(4).plusSeconds(2 * 3600), daysAgo(0), UsageQuery.By.MODEL)
                .withKeyId(key);
        for (UsageQuery.By by : List.of(UsageQuery.By.MODEL, UsageQuery.By.USER)) {
            UsageQuery q = new UsageQuery(range.since(), range.until(), by, key, null, null, UsageQuery.DEFAULT_LIMIT);
            assertThat(queries().summarize(q))
                    .as("by %s", by)
                    .extracting(UsageSummary::group, UsageSummary::requests)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(null, 2L));
        }
    }

    /** A 10 KB model name is kept (cut to its first 128 characters), and the row is counted. */
    @Test
    void hugeValuesAreKeptCut() {
        String tag = tag();
        String model = "m" + "x".repeat(10_000);
        write(List.of(row(daysAgo(1).plusSeconds(5), "key_" + tag, "o".repeat(5000), "keys", model, 1, 2, 3)));
        UsageQuery q =
                UsageQuery.of(daysAgo(2), daysAgo(0), UsageQuery.By.MODEL).withKeyId("key_" + tag);
        List<UsageSummary> rows = queries().summarize(q);
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0).requests()).isEqualTo(1);
        assertThat(rows.get(0).group()).startsWith("mxxx").hasSizeLessThanOrEqualTo(128 + "-2024-08-06".length());
    }

    /**
     * Tabs, newlines, backslashes, quotes, COPY's own markers, control characters, NUL and characters beyond the
     * basic plane in 10 KB values are kept as they are (cut to the column; a NUL, which PostgreSQL cannot store,
     * as U+FFFD), whether summed from the daily rows or from the raw ones, and an ordinary row of the same batch
     * is counted too.
     */
    @Test
    void controlCharactersAndHugeValuesRoundTrip() {
        String tag = tag();
        String odd = "\t\n\r\\N\\.\\\u0000\u0001\u001f'\",|\u00e9\u20ac\ud83d\ude00x";
        String model = ("m" + odd).repeat(10_000 / odd.length());
        String owner = ("o" + tag + odd).repeat(10_000 / odd.length());
        Instant at = daysAgo(1).plusSeconds(7);
        write(List.of(
                row(at, "key_" + tag, owner, "keys", model, 1, 2, 3),
                row(at, "key_" + tag, null, "keys", "gpt-4o", 10, 20, 30)));
        String stored = cut(model + "-2024-08-06", 128);
        String storedOwner = cut(owner, 200);
        for (UsageQuery q : List.of(
                UsageQuery.of(daysAgo(2), daysAgo(0), UsageQuery.By.MODEL), // the daily rows
                UsageQuery.of(at, at.plusSeconds(1), UsageQuery.By.MODEL))) { // the raw rows
            assertThat(queries().summarize(q.withKeyId("key_" + tag)))
                    .extracting(UsageSummary::group, UsageSummary::requests, UsageSummary::inputTokens)
                    .containsExactlyInAnyOrder(
                            org.assertj.core.groups.Tuple.tuple(stored, 1L, 1L),
                            org.assertj.core.groups.Tuple.tuple("gpt-4o-2024-08-06", 1L, 10L));
            UsageQuery byUser =
                    UsageQuery.of(q.since(), q.until(), UsageQuery.By.USER).withKeyId("key_" + tag);
            assertThat(queries().summarize(byUser))
                    .extracting(UsageSummary::group)
                    .containsExactlyInAnyOrder(storedOwner, null);
        }
    }

    /**
     * Lone surrogates (a client's JSON escape {@code "\\ud800"} in a model name) are kept as U+FFFD, in the same
     * batch as an ordinary row: two such names are one daily group, as they are one string once stored, and the
     * batch is written whole (PostgreSQL cannot store a lone surrogate; two names it stored alike once failed the
     * daily upsert, and every row of the batch was lost).
     */
    @Test
    void loneSurrogatesAreKeptAsReplacementCharactersWithTheRestOfTheBatch() {
        String tag = tag();
        Instant at = daysAgo(1).plusSeconds(11);
        write(List.of(
                row(at, "key_" + tag, null, "keys", "x\ud800", 1, 2, 3),
                row(at, "key_" + tag, null, "keys", "x\udbff", 1, 2, 3),
                row(at, "key_" + tag, null, "keys", "y\udc00\ud83d\ude00", 1, 2, 3),
                row(at, "key_" + tag, null, "keys", "gpt-4o", 10, 20, 30)));
        for (UsageQuery q : List.of(
                UsageQuery.of(daysAgo(2), daysAgo(0), UsageQuery.By.MODEL), // the daily rows
                UsageQuery.of(at, at.plusSeconds(1), UsageQuery.By.MODEL))) { // the raw rows
            assertThat(queries().summarize(q.withKeyId("key_" + tag)))
                    .extracting(UsageSummary::group, UsageSummary::requests)
                    .containsExactlyInAnyOrder(
                            org.assertj.core.groups.Tuple.tuple("x\ufffd-2024-08-06", 2L),
                            org.assertj.core.groups.Tuple.tuple("y\ufffd\ud83d\ude00-2024-08-06", 1L),
                            org.assertj.core.groups.Tuple.tuple("gpt-4o-2024-08-06", 1L));
        }
    }

    /** What a store keeps of {@code s}: its first {@code max} characters, NUL as U+FFFD. */
    private static String cut(String s, int max) {
        String c = s.substring(0, Math.min(max, s.length()));
        assertThat(Character.isHighSurrogate(c.charAt(c.length() - 1)))
                .as("no pair cut in two")
                .isFalse();
        return c.replace('\u0000', '\ufffd');
    }

    /** Retention removes what is older than the cutoff and keeps the rest, rollups and raw rows alike. */
    @Test
    void retentionDeletesOldRowsOnly() {
        String tag = tag();
        String key = "key_" + tag;
        write(List.of(
                row(daysAgo(8).plusSeconds(100), key, null, "keys", "gpt-4o", 1, 1, 1),
                row(daysAgo(6).plusSeconds(100), key, null, "keys", "gpt-4o", 1, 1, 1),
                row(daysAgo(2).plusSeconds(100), key, null, "keys", "gpt-4o", 1, 1, 1)));
        purgeBefore(daysAgo(5));
        UsageQuery q = UsageQuery.of(daysAgo(10), daysAgo(0), UsageQuery.By.DAY).withKeyId(key);
        assertThat(queries().summarize(q))
                .extracting(UsageSummary::group)
                .containsExactly(
                        daysAgo(2).atOffset(ZoneOffset.UTC).toLocalDate().toString());
    }
}
