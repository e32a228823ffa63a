package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.testkit.AuditLogContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The JDBC audit log on a real PostgreSQL server passes the kit ({@link PostgresProxyKeyStoreTest} says how one
 * is named); tables of a prefix of its own, dropped afterwards.
 */
class PostgresAuditLogTest extends AuditLogContract {
    static final String PREFIX = TestPostgres.newPrefix('a');
    static AuditLog log;

    @BeforeAll
    static void connect() {
        TestPostgres.requireOrSkip();
        log = JdbcAuditLog.create(TestPostgres.dataSource(), PREFIX);
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (log == null) {
            return;
        }
        TestPostgres.dropTables(PREFIX, "proxy_keys", "policies", "audit_log", "access_schema_version");
    }

    @Override
    protected AuditLog log() {
        return log;
    }
}
