package io.github.openaiproxy.core.usage.ledger;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testkit.UsageLedgerContract;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

/**
 * The JDBC ledger store on embedded H2 passes the kit (rows written in batches of 500, as the ledger's thread
 * writes them), and a {@link BatchingUsageLedger} over it writes every record it took once closed.
 */
class H2UsageLedgerTest extends UsageLedgerContract {
    private static final JdbcDataSource DATABASE =
            dataSource("jdbc:h2:mem:ledger-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
    private static final JdbcUsageStore STORE = JdbcUsageStore.create(DATABASE);

    static JdbcDataSource dataSource(String url) {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL(url);
        ds.setUser("sa");
        ds.setPassword("");
        return ds;
    }

    @Override
    protected UsageQueries queries() {
        return STORE;
    }

    @Override
    protected void write(List<UsageRecord> rows) {
        writeInBatches(STORE, rows);
    }

    static void writeInBatches(JdbcUsageStore store, List<UsageRecord> rows) {
        writeInBatches(store, rows, 500);
    }

    /** In batches of {@code size} (over 500: several statements per batch). */
    static void writeInBatches(JdbcUsageStore store, List<UsageRecord> rows, int size) {
        try {
            for (int i = 0; i < rows.size(); i += size) {
                store.write(new ArrayList<>(rows.subList(i, Math.min(rows.size(), i + size))));
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    protected void purgeBefore(Instant cutoff) {
        try {
            STORE.purge(cutoff);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The daily table holds the batch's sums per day, key, identity, owner, policy and model: fewer rows. */
    @Test
    void rollupRowsAreFewerThanRawRowsAndSumToThem() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:rollup-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcUsageStore store = JdbcUsageStore.create(ds);
        List<UsageRecord> rows = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            rows.add(row(daysAgo(1).plusSeconds(i), "key_" + (i % 3), "o", "keys", "gpt-4o", i, 1, 10));
        }
        writeInBatches(store, rows, 1000); // one batch: two INSERT statements
        writeInBatches(store, rows.subList(0, 10)); // an upsert onto existing daily rows
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            assertThat(count(s, "SELECT COUNT(*) FROM " + store.rawTable())).isEqualTo(1010);
            assertThat(count(s, "SELECT COUNT(*) FROM " + store.dailyTable())).isEqualTo(3);
            assertThat(count(s, "SELECT SUM(requests) FROM " + store.dailyTable()))
                    .isEqualTo(1010);
            assertThat(count(s, "SELECT SUM(input_tokens) FROM " + store.dailyTable()))
                    .isEqualTo(count(s, "SELECT SUM(input_tokens) FROM " + store.rawTable()));
            assertThat(count(s, "SELECT SUM(cost_nano_usd) FROM " + store.dailyTable()))
                    .isEqualTo(10_100);
        }
    }

    /** Two instances starting on one database: the schema is migrated once. */
    @Test
    void migrationRunsOnce() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:ledgermigrate-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcUsageStore.create(ds);
        JdbcUsageStore.create(ds, JdbcUsageStore.DEFAULT_PREFIX, Clock.systemUTC());
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            assertThat(count(s, "SELECT COUNT(*) FROM openai_proxy_usage_schema_version"))
                    .isEqualTo(1);
        }
    }

    /** Records taken by the batching ledger are in the tables once it is closed: close() writes the queue. */
    @Test
    void theBatchingLedgerWritesEverythingItTookByClose() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:ledgerclose-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcUsageStore store = JdbcUsageStore.create(ds);
        LedgerConfig config = LedgerConfig.DEFAULTS
                .withStore(LedgerConfig.Store.JDBC)
                .withBatchSize(100)
                .withFlushInterval(Duration.ofMinutes(10)); // only full batches, and close(), write
        BatchingUsageLedger ledger = BatchingUsageLedger.start(store, config, Clock.systemUTC());
        for (int i = 0; i < 2345; i++) {
            ledger.record(row(daysAgo(1).plusSeconds(i), "key_c", null, "keys", "gpt-4o", 1, 1, 1));
        }
        assertThat(ledger.close(Duration.ofSeconds(30))).isTrue();
        assertThat(ledger.dropped()).isZero();
        assertThat(ledger.written()).isEqualTo(2345);
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            assertThat(count(s, "SELECT COUNT(*) FROM " + store.rawTable())).isEqualTo(2345);
        }
    }

    private static long count(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** A reader finds no ledger in a database the ledger never wrote to, and leaves no table behind. */
    @Test
    void existingCreatesNothingInAFreshDatabaseAndOpensALedgerMadeBefore() throws Exception {
        JdbcDataSource fresh = dataSource("jdbc:h2:mem:fresh-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        assertThat(JdbcUsageStore.existing(fresh, JdbcUsageStore.DEFAULT_PREFIX, Clock.systemUTC()))
                .isEmpty();
        assertThat(tables(fresh)).isZero();

        JdbcUsageStore.create(fresh);
        long created = tables(fresh);
        assertThat(created).isPositive();
        assertThat(JdbcUsageStore.existing(fresh, JdbcUsageStore.DEFAULT_PREFIX, Clock.systemUTC()))
                .isPresent();
        assertThat(tables(fresh)).isEqualTo(created);
    }

    private static long tables(JdbcDataSource ds) throws SQLException {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(
                        "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES" + " WHERE TABLE_SCHEMA = 'PUBLIC'")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
