package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import io.github.openaiproxy.testkit.ProxyKeyStoreContract;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The JDBC key store on a real PostgreSQL server, named by {@code OPENAI_PROXY_TEST_PG_URL} (with
 * {@code OPENAI_PROXY_TEST_PG_USER} and {@code OPENAI_PROXY_TEST_PG_PASSWORD}), as the session store's test:
 * {@code .ci/run} starts one and makes these tests required; without it they are skipped. Tables of a prefix
 * of its own, dropped afterwards.
 */
class PostgresProxyKeyStoreTest extends ProxyKeyStoreContract {
    static final String PREFIX = TestPostgres.newPrefix('k');
    static ProxyKeyStore store;

    @BeforeAll
    static void connect() {
        TestPostgres.requireOrSkip();
        store = JdbcProxyKeyStore.create(pgDataSource(), PREFIX);
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (store == null) {
            return;
        }
        TestPostgres.dropTables(PREFIX, "proxy_keys", "policies", "audit_log", "access_schema_version");
    }

    static javax.sql.DataSource pgDataSource() {
        return TestPostgres.dataSource();
    }

    @Override
    protected ProxyKeyStore store() {
        return store;
    }

    /** A revocation by one instance is what another instance's store reads at once. */
    @Test
    void twoInstancesShareKeys() {
        ProxyKeyStore a = JdbcProxyKeyStore.create(pgDataSource(), PREFIX);
        ProxyKeyStore b = JdbcProxyKeyStore.create(pgDataSource(), PREFIX);
        ProxyKey k = newKey("keys", 0);
        a.insert(k);
        assertThat(b.findByHash(k.hash())).contains(k);
        a.update(k.revoked(Instant.now().truncatedTo(ChronoUnit.MILLIS)));
        assertThat(b.findByHash(k.hash()).orElseThrow().revokedAt()).isNotNull();
    }

    /** Migration 2's index on the keys' policy, which a policy's deletion looks through, exists on PostgreSQL. */
    @Test
    void thePolicyColumnIsIndexed() throws Exception {
        try (java.sql.Connection c = pgDataSource().getConnection();
                java.sql.PreparedStatement p =
                        c.prepareStatement("SELECT indexdef FROM pg_indexes WHERE tablename = ? AND indexname = ?")) {
            p.setString(1, PREFIX + "proxy_keys");
            p.setString(2, PREFIX + "proxy_keys_policy");
            try (java.sql.ResultSet rs = p.executeQuery()) {
                assertThat(rs.next())
                        .as("index " + PREFIX + "proxy_keys_policy")
                        .isTrue();
                assertThat(rs.getString(1)).contains("(policy, revoked_at)");
            }
        }
    }

    @Test
    void policiesAndTheAuditLogWork() {
        PolicyStore policies = JdbcPolicyStore.create(pgDataSource(), PREFIX);
        policies.save(Policy.unrestricted("pg-batch"));
        assertThat(policies.find("pg-batch")).contains(Policy.unrestricted("pg-batch"));
        assertThat(policies.delete("pg-batch")).isTrue();

        AuditLog log = JdbcAuditLog.create(pgDataSource(), PREFIX);
        Instant t = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        log.record(new AuditEntry(t, "cli", "key.revoke", "key_1", null));
        assertThat(log.recent(1)).containsExactly(new AuditEntry(t, "cli", "key.revoke", "key_1", null));
    }
}
