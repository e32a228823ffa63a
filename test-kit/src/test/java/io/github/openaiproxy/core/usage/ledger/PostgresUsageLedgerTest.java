package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testkit.UsageLedgerContract;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

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
}
