package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.UUID;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Deleting a policy over real HTTP, on the JDBC key store with many keys: whether a key is still under the policy
 * is one bounded query, which reads at most one row of the key table (H2's query statistics count them), not every
 * key into the proxy's memory; the answer is as before, 409 {@code policy_in_use} or 200.
 */
class PolicyInUseCheckHttpTest {
    static final int KEYS = 500;
    private static final ProxyKeys.NewKey ADMIN_TOKEN = ProxyKeys.generateAdminToken();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void theInUseCheckReadsAtMostOneKeyRow() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:policy-in-use-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcProxyKeyStore keys = JdbcProxyKeyStore.create(h2);
        ProxyEngine engine = ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:9")))
                        .access(AccessConfig.DEFAULTS.withAdmin(
                                AccessConfig.Admin.OFF.withEnabled(true).withTokenHashes(List.of(ADMIN_TOKEN.hash()))))
                        .build())
                .proxyKeys(keys)
                .policyStore(JdbcPolicyStore.create(h2))
                .auditLog(JdbcAuditLog.create(h2))
                .build();
        proxy = TomcatProxy.servlet(engine);
        for (String policy : new String[] {"busy", "idle"}) {
            assertThat(send("PUT", "/admin/policies/" + policy, "{\"max-tokens\":100}")
                            .statusCode())
                    .isEqualTo(200);
        }
        Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        for (int i = 0; i < KEYS; i++) {
            ProxyKeys.NewKey k = ProxyKeys.generate();
            // Revoked keys first: a check that stops at the first row under the policy still looks past them.
            keys.insert(new ProxyKey(
                    "key_" + i,
                    k.displayPrefix(),
                    k.hash(),
                    "k" + i,
                    null,
                    i % 2 == 0 ? "keys" : "busy",
                    now.plusMillis(i),
                    null,
                    i < KEYS - 2 && i % 2 == 1 ? now : null,
                    null));
        }
        try (Connection c = h2.getConnection();
                Statement s = c.createStatement()) {
            s.execute("SET QUERY_STATISTICS TRUE");
        }

        HttpResponse<String> busy = send("DELETE", "/admin/policies/busy", null);
        assertThat(busy.statusCode()).as(busy.body()).isEqualTo(409);
        assertThat(JSON.readTree(busy.body()).at("/error/code").asText()).isEqualTo("policy_in_use");
        HttpResponse<String> idle = send("DELETE", "/admin/policies/idle", null);
        assertThat(idle.statusCode()).as(idle.body()).isEqualTo(200);

        try (Connection c = h2.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT SQL_STATEMENT, MAX_ROW_COUNT FROM"
                        + " INFORMATION_SCHEMA.QUERY_STATISTICS WHERE LOWER(SQL_STATEMENT) LIKE '%proxy_keys%'")) {
            int statements = 0;
            while (rs.next()) {
                statements++;
                assertThat(rs.getLong(2)).as(rs.getString(1)).isLessThanOrEqualTo(1);
            }
            assertThat(statements).as("the key table was asked").isPositive();
        }
    }

    private HttpResponse<String> send(String method, String path, String body) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                        .header("Authorization", "Bearer " + ADMIN_TOKEN.secret())
                        .header("Content-Type", "application/json")
                        .method(
                                method,
                                body == null
                                        ? HttpRequest.BodyPublishers.noBody()
                                        : HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
