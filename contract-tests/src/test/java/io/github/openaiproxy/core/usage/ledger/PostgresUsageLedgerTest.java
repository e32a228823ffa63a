package io.github.openaiproxy.core.usage.ledger;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testkit.UsageLedgerContract;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The JDBC ledger store on a real PostgreSQL server ({@code OPENAI_PROXY_TEST_PG_URL}; required when
 * {@code OPENAI_PROXY_PG_TESTS=required}) passes the kit: {@code ON CONFLICT} upserts, the same sums.
 */
class PostgresUsageLedgerTest extends UsageLedgerContract {
    static final String PREFIX = TestPostgres.newPrefix('u');
    static JdbcUsageStore store;

    @BeforeAll
    static void connect() {
        TestPostgres.requireOrSkip();
        store = JdbcUsageStore.create(TestPostgres.dataSource(), PREFIX, Clock.systemUTC());
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (store == null) {
            return;
        }
        TestPostgres.dropTables(PREFIX, "usage", "usage_daily", "usage_schema_version");
    }

    /**
     * Retention finds the old rows by the index on {@code at} and deletes them by the primary key: no step reads the
     * whole table (with 300,000 rows a step written with {@code IN (SELECT ...)} was planned as a sequential scan of
     * all of them, 20 times the cost, and one round takes up to a hundred steps). Its own tables, so that the
     * kit's rows do not count.
     */
    @Test
    void retentionNeverScansTheWholeTable() throws Exception {
        String prefix = TestPostgres.newPrefix('v');
        JdbcUsageStore own = JdbcUsageStore.create(TestPostgres.dataSource(), prefix, Clock.systemUTC());
        try {
            Instant base = Instant.now().truncatedTo(ChronoUnit.SECONDS).minus(java.time.Duration.ofDays(200));
            try (Connection c = TestPostgres.dataSource().getConnection();
                    PreparedStatement p = c.prepareStatement("INSERT INTO " + prefix + "usage (at, identity_kind,"
                            + " identity_id, policy, route, upstream_status, proxy_status, input_tokens,"
                            + " cached_input_tokens, output_tokens, reasoning_tokens, images, cost_nano_usd, estimated,"
                            + " streamed, outcome, duration_micros, first_event_micros) SELECT ? + g * interval '30 s',"
                            + " 'USER', 'user' || (g % 1000), 'default', '/v1/chat/completions', 200, 200, 1, 0, 1, 0,"
                            + " 0, 1, false, false, 'COMPLETED', 1, 1 FROM generate_series(1, 300000) g")) {
                p.setObject(1, OffsetDateTime.ofInstant(base, java.time.ZoneOffset.UTC));
                p.executeUpdate();
                try (java.sql.Statement s = c.createStatement()) {
                    s.execute("ANALYZE " + prefix + "usage");
                }
            }
            TableStatistics before = statistics(prefix + "usage");
            own.purge(base.plusSeconds(30 * 28_800 + 15)); // the first 28,800 rows
            // The purge's connections report their statistics as they go idle or close: wait until its deletes are
            // counted, then its scans are too (waiting for the scan count to move waited out the deadline whenever
            // the purge was right and it never moved).
            long deadline = System.nanoTime() + java.time.Duration.ofSeconds(10).toNanos();
            TableStatistics after = statistics(prefix + "usage");
            while (after.deletedRows() - before.deletedRows() < 28_800 && System.nanoTime() < deadline) {
                Thread.sleep(20);
                after = statistics(prefix + "usage");
            }
            assertThat(after.sequentialScans() - before.sequentialScans())
                    .as("sequential scans of the ledger by its retention")
                    .isZero();
            assertThat(count(prefix)).isEqualTo(300_000 - 28_800);
        } finally {
            TestPostgres.dropTables(prefix, "usage", "usage_daily", "usage_schema_version");
        }
    }

    /** What PostgreSQL's statistics say of a table: its sequential scans and the rows deleted from it. */
    private record TableStatistics(long sequentialScans, long deletedRows) {}

    private static TableStatistics statistics(String table) throws SQLException {
        try (Connection c = TestPostgres.dataSource().getConnection();
                java.sql.Statement s = c.createStatement()) {
            s.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = s.executeQuery(
                    "SELECT seq_scan, n_tup_del FROM pg_stat_user_tables WHERE relname = '" + table + "'")) {
                rs.next();
                return new TableStatistics(rs.getLong(1), rs.getLong(2));
            }
        }
    }

    private static long count(String prefix) throws SQLException {
        try (Connection c = TestPostgres.dataSource().getConnection();
                java.sql.Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + prefix + "usage")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /**
     * Every column of the rows COPY wrote reads back as the records had it: the time (to the microsecond, rounded as
     * the driver rounds), text beyond ASCII, numbers beyond 32 bits, flags, the outcome, and NULLs.
     */
    @Test
    void copiedRowsKeepEveryColumn() throws Exception {
        String id = "key_" + UUID.randomUUID();
        Instant at =
                Instant.now().truncatedTo(ChronoUnit.SECONDS).minusSeconds(60).plusNanos(123_456_789);
        UsageRecord full = new UsageRecord(
                at,
                "PROXY_KEY",
                id,
                id,
                "owner \u00e9\ud83d\ude00\t\\",
                "premium",
                "/v1/responses",
                "gpt-4o",
                "gpt-4o-2024-08-06",
                "azure",
                201,
                200,
                new TokenUsage(5_000_000_001L, 2, 3_000_000_003L, 4, 5),
                6_000_000_007L,
                true,
                true,
                UsageRecord.Outcome.CLIENT_GONE,
                8_000_000_009L,
                -1,
                "req_\u00fc");
        UsageRecord sparse = new UsageRecord(
                at.plusSeconds(1),
                "USER",
                id + "-u",
                null,
                null,
                "keys",
                "/v1/x",
                null,
                null,
                null,
                0,
                502,
                TokenUsage.NONE,
                0,
                false,
                false,
                UsageRecord.Outcome.UPSTREAM_FAILED,
                0,
                0,
                null);
        store.write(List.of(full, sparse));
        List<List<Object>> rows = new ArrayList<>();
        try (Connection c = TestPostgres.dataSource().getConnection();
                PreparedStatement p = c.prepareStatement("SELECT at, identity_kind, identity_id, key_id, owner, policy,"
                        + " route, requested_model, answering_model, upstream, upstream_status, proxy_status,"
                        + " input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, images, cost_nano_usd,"
                        + " estimated, streamed, outcome, duration_micros, first_event_micros, upstream_request_id"
                        + " FROM " + store.rawTable() + " WHERE identity_id IN (?, ?) ORDER BY at")) {
            p.setString(1, id);
            p.setString(2, id + "-u");
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    List<Object> row = new ArrayList<>();
                    row.add(rs.getObject(1, OffsetDateTime.class).toInstant());
                    for (int i = 2; i <= 24; i++) {
                        row.add(rs.getObject(i));
                    }
                    rows.add(row);
                }
            }
        }
        assertThat(rows).hasSize(2);
        assertThat(rows.get(0))
                .containsExactly(
                        at.truncatedTo(ChronoUnit.SECONDS).plusNanos(123_457_000),
                        "PROXY_KEY",
                        id,
                        id,
                        "owner \u00e9\ud83d\ude00\t\\",
                        "premium",
                        "/v1/responses",
                        "gpt-4o",
                        "gpt-4o-2024-08-06",
                        "azure",
                        201,
                        200,
                        5_000_000_001L,
                        2L,
                        3_000_000_003L,
                        4L,
                        5,
                        6_000_000_007L,
                        true,
                        true,
                        "CLIENT_GONE",
                        8_000_000_009L,
                        -1L,
                        "req_\u00fc");
        assertThat(rows.get(1))
                .containsExactly(
                        at.plusSeconds(1).truncatedTo(ChronoUnit.SECONDS).plusNanos(123_457_000),
                        "USER",
                        id + "-u",
                        null,
                        null,
                        "keys",
                        "/v1/x",
                        null,
                        null,
                        null,
                        0,
                        502,
                        0L,
                        0L,
                        0L,
                        0L,
                        0,
                        0L,
                        false,
                        false,
                        "UPSTREAM_FAILED",
                        0L,
                        0L,
                        null);
    }

    @Override
    protected UsageQueries queries() {
        return store;
    }

    @Override
    protected void write(List<UsageRecord> rows) {
        // 700: a batch takes two statements of rows and of daily upserts
        H2UsageLedgerTest.writeInBatches(store, rows, 700);
    }

    @Override
    protected void purgeBefore(Instant cutoff) {
        try {
            store.purge(cutoff);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** PostgreSQL folds names to lower case: a reader finds the ledger made before, and none where none was. */
    @Test
    void existingFindsTheLedgerMadeBeforeAndNoneUnderAnotherPrefix() {
        assertThat(JdbcUsageStore.existing(TestPostgres.dataSource(), PREFIX, Clock.systemUTC()))
                .isPresent();
        assertThat(JdbcUsageStore.existing(TestPostgres.dataSource(), TestPostgres.newPrefix('n'), Clock.systemUTC()))
                .isEmpty();
    }
}
