package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.testkit.ProxyKeyStoreContract;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.UUID;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

/** The JDBC key store on embedded H2 passes the kit; its policy store and audit log work on the same tables. */
class H2ProxyKeyStoreTest extends ProxyKeyStoreContract {
    private static final JdbcDataSource DATABASE =
            dataSource("jdbc:h2:mem:keys-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
    private static final ProxyKeyStore STORE = JdbcProxyKeyStore.create(DATABASE);

    @Override
    protected ProxyKeyStore store() {
        return STORE;
    }

    static JdbcDataSource dataSource(String url) {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL(url);
        ds.setUser("sa");
        ds.setPassword("");
        return ds;
    }

    @Test
    void onlyTheHashIsStored() throws Exception {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        STORE.insert(new ProxyKey(
                "key_onlyhash", k.displayPrefix(), k.hash(), "n", null, "keys", Instant.now(), null, null, null));
        try (Connection c = DATABASE.getConnection();
                ResultSet rs = c.createStatement().executeQuery("SELECT * FROM openai_proxy_proxy_keys")) {
            while (rs.next()) {
                for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                    String v = rs.getString(i);
                    assertThat(v == null ? "" : v).doesNotContain(k.secret());
                }
            }
        }
    }

    @Test
    void migrationRunsOnceForAllThreeStoresAndLeavesTheSessionTablesAlone() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:migrate-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcSessionStore.builder(ds).build(); // the session tables share the prefix
        JdbcProxyKeyStore.create(ds);
        JdbcPolicyStore.create(ds);
        JdbcAuditLog.create(ds);
        JdbcProxyKeyStore.create(ds); // a second instance starting
        try (Connection c = ds.getConnection()) {
            ResultSet rs = c.createStatement()
                    .executeQuery("SELECT COUNT(*), MAX(version) FROM openai_proxy_access_schema_version");
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(2);
            assertThat(rs.getInt(2)).isEqualTo(2);
            rs = c.createStatement().executeQuery("SELECT MAX(version) FROM openai_proxy_schema_version");
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(4); // the sessions' own numbering
        }
    }

    /**
     * Migration 2 indexes the keys' policy (a policy's deletion asks whether an unrevoked key is under it): a
     * database of version 1 gets the index at the next start, its keys untouched; a new one has it at once.
     */
    @Test
    void aDatabaseOfVersionOneGetsThePolicyIndex() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:policy-index-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcProxyKeyStore.create(ds).insert(newKey("batch", 0));
        assertThat(policyIndexes(ds)).as("a new database").isNotEmpty();
        try (Connection c = ds.getConnection()) {
            // As version 1 left it: no index on the policy.
            c.createStatement().execute("DROP INDEX openai_proxy_proxy_keys_policy");
            c.createStatement().execute("DELETE FROM openai_proxy_access_schema_version WHERE version = 2");
        }
        assertThat(policyIndexes(ds)).isEmpty();

        ProxyKeyStore upgraded = JdbcProxyKeyStore.create(ds);

        assertThat(policyIndexes(ds)).containsExactly("OPENAI_PROXY_PROXY_KEYS_POLICY");
        assertThat(upgraded.hasUnrevokedKeyUnder("batch")).isTrue();
        assertThat(upgraded.list()).hasSize(1);
    }

    /** The names of the indexes whose first column is the keys' policy. */
    static List<String> policyIndexes(JdbcDataSource ds) throws Exception {
        List<String> names = new java.util.ArrayList<>();
        try (Connection c = ds.getConnection();
                ResultSet rs = c.getMetaData().getIndexInfo(null, null, "OPENAI_PROXY_PROXY_KEYS", false, false)) {
            while (rs.next()) {
                if (rs.getShort("ORDINAL_POSITION") == 1 && "POLICY".equalsIgnoreCase(rs.getString("COLUMN_NAME"))) {
                    names.add(rs.getString("INDEX_NAME"));
                }
            }
        }
        return names;
    }

    @Test
    void aTablePrefixIsCheckedAndUsed() throws Exception {
        assertThatThrownBy(() -> JdbcProxyKeyStore.create(DATABASE, "x; DROP TABLE y"))
                .isInstanceOf(IllegalArgumentException.class);
        JdbcDataSource ds = dataSource("jdbc:h2:mem:prefix-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcProxyKeyStore.create(ds, "acme_").insert(newKey("keys", 0));
        try (Connection c = ds.getConnection();
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM acme_proxy_keys")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(1);
        }
    }

    @Test
    void policiesAreStoredAsJsonDocuments() {
        PolicyStore policies = JdbcPolicyStore.create(DATABASE);
        Policy p = new Policy(
                "batch",
                List.of("POST /v1/chat/completions"),
                List.of("gpt-4o-mini", "gpt-4.1-*"),
                500,
                1,
                Policy.OverCap.REFUSE,
                List.of("dall-e-3"),
                List.of("1024x1024"),
                List.of("standard"),
                new Policy.Quotas(60L, null, 1000L, null, 100_000L, null, 4L, new BigDecimal("5.50"), null));
        policies.save(p);
        assertThat(policies.find("batch")).contains(p);
        Policy changed = Policy.unrestricted("batch");
        policies.save(changed);
        assertThat(policies.find("batch")).contains(changed);
        policies.save(Policy.unrestricted("alpha"));
        assertThat(policies.list()).extracting(Policy::name).containsExactly("alpha", "batch");
        assertThat(policies.find("' OR 1=1 --")).isEmpty();
        assertThat(policies.delete("batch")).isTrue();
        assertThat(policies.delete("batch")).isFalse();
        assertThat(policies.find("batch")).isEmpty();
    }

    @Test
    void theAuditLogKeepsEveryEntryNewestFirst() {
        AuditLog log = JdbcAuditLog.create(dataSource("jdbc:h2:mem:audit-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1"));
        Instant t = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        log.record(new AuditEntry(t, "token:0123abcd", "key.create", "key_1", "keys"));
        log.record(new AuditEntry(t.plusSeconds(1), "cli", "policy.delete", null, "batch"));
        assertThat(log.recent(10))
                .containsExactly(
                        new AuditEntry(t.plusSeconds(1), "cli", "policy.delete", null, "batch"),
                        new AuditEntry(t, "token:0123abcd", "key.create", "key_1", "keys"));
        assertThat(log.recent(1)).hasSize(1);
        assertThat(log.recent(0)).isEmpty();
    }
}
