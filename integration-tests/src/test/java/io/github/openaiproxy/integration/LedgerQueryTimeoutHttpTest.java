package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.JdbcUsageStore;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A usage summary on PostgreSQL that cannot finish in time (here: its tables are locked by another transaction, as
 * a long migration or a heavy report would hold them) is cancelled at {@code ledger.query-timeout} and answered 503
 * {@code ledger_timeout} in OpenAI's error shape, over real HTTP; no statement of it is left waiting on the
 * database, and the next summary, once the tables are free, is answered. On PostgreSQL ({@code
 * OPENAI_PROXY_TEST_PG_URL}; required in CI).
 */
class LedgerQueryTimeoutHttpTest {
    private static final ProxyKeys.NewKey ADMIN_TOKEN = ProxyKeys.generateAdminToken();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    @Test
    void aSummaryPastTheQueryTimeoutIs503LedgerTimeoutAndLeavesNoStatementBehind() throws Exception {
        PGSimpleDataSource pg = postgres();
        String prefix = "t" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";
        open.add(() -> {
            try (Connection c = pg.getConnection();
                    Statement s = c.createStatement()) {
                for (String t : new String[] {"usage", "usage_daily", "usage_schema_version"}) {
                    s.execute("DROP TABLE IF EXISTS " + prefix + t);
                }
            }
        });
        // The timeout is the ledger.query-timeout setting, through the configuration the embedded recipe passes on.
        ProxyConfig config = ProxySettings.from(Map.of(
                        "api-key", "sk-server-key-123456",
                        "base-url", "http://127.0.0.1:9",
                        "admin.enabled", "true",
                        "admin.tokens", ADMIN_TOKEN.hash(),
                        "ledger.store", "jdbc",
                        "ledger.query-timeout", "1s"))
                .toConfig();
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                JdbcUsageStore.create(pg, prefix, Clock.systemUTC()), config.ledger(), Clock.systemUTC());
        open.add(ledger::close);
        ProxyEngine engine = ProxyEngine.builder(config).usageLedger(ledger).build();
        TomcatProxy proxy = TomcatProxy.servlet(engine);
        open.add(proxy::close);

        Connection locker = pg.getConnection();
        open.add(locker::close);
        locker.setAutoCommit(false);
        try (Statement s = locker.createStatement()) {
            s.execute("LOCK TABLE " + prefix + "usage, " + prefix + "usage_daily IN ACCESS EXCLUSIVE MODE");
        }

        long started = System.nanoTime();
        HttpResponse<String> r = usage(proxy);
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertThat(error.get("code").asText()).isEqualTo("ledger_timeout");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        assertThat(error.get("message").asText()).contains("1s").doesNotContain("Exception");
        assertThat(took).isLessThan(Duration.ofSeconds(8));
        assertThat(waitingOn(pg, prefix))
                .as("statements of the summary still waiting")
                .isZero();

        locker.rollback();
        HttpResponse<String> after = usage(proxy);
        assertThat(after.statusCode()).as(after.body()).isEqualTo(200);
        assertThat(JSON.readTree(after.body()).get("has_more").asBoolean()).isFalse();
    }

    private static HttpResponse<String> usage(TomcatProxy proxy) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + proxy.port() + "/admin/usage?since=7d&by=model"))
                        .header("Authorization", "Bearer " + ADMIN_TOKEN.secret())
                        .timeout(Duration.ofSeconds(20))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The summary's statements (they sum) on the ledger's tables that wait for a lock. The ledger's purge at start
     * runs on its writer thread and may reach the locked tables after the lock was taken; it is not the summary's.
     */
    private static int waitingOn(PGSimpleDataSource pg, String prefix) throws Exception {
        try (Connection c = pg.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        + " AND query LIKE '%SUM(%' AND query LIKE '%" + prefix + "usage%'")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static PGSimpleDataSource postgres() {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
        PGSimpleDataSource pg = new PGSimpleDataSource();
        pg.setUrl(url);
        if (System.getenv("OPENAI_PROXY_TEST_PG_USER") != null) {
            pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        }
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        return pg;
    }
}
