package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.testkit.AuditLogContract;
import java.util.UUID;

/** The JDBC audit log on embedded H2 passes the kit. */
class H2AuditLogTest extends AuditLogContract {
    private static final AuditLog LOG = JdbcAuditLog.create(
            H2ProxyKeyStoreTest.dataSource("jdbc:h2:mem:audit-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1"));

    @Override
    protected AuditLog log() {
        return LOG;
    }
}
