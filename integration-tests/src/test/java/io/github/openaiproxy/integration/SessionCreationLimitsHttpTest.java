package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.limits.JdbcLimitStore;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.MemoryLimitStore;
import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * {@code POST /sessions} calls no upstream but writes a row: it counts as one request against the caller's
 * request-rate rules, so an anonymous caller cannot fill the session table. Over HTTP, with the sessions in a
 * database, on the in-memory limit store (sessions on H2) and on the JDBC limit store (all on PostgreSQL).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SessionCreationLimitsHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<AutoCloseable> closing = new ArrayList<>();
    private final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    /** This test's own tables: other tests may use the default ones on the same PostgreSQL at the same time. */
    private final String prefix =
            "q" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";

    private PGSimpleDataSource pg;

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        if (pg != null) {
            try (Connection c = pg.getConnection();
                    Statement s = c.createStatement()) {
                for (String t : new String[] {
                    "messages",
                    "sessions",
                    "schema_version",
                    "limit_counters",
                    "limit_leases",
                    "limit_marks",
                    "limits_schema_version"
                }) {
                    s.execute("DROP TABLE IF EXISTS " + prefix + t);
                }
            }
        }
    }

    @Test
    void theFourthCreationIsRefusedOnTheMemoryStore() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:session-limits-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        theFourthCreationIsRefused(h2, new MemoryLimitStore());
    }

    @Test
    void theFourthCreationIsRefusedOnTheJdbcStoreOnPostgres() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
        pg = new PGSimpleDataSource();
        pg.setURL(url);
        pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        LimitStore limits = JdbcLimitStore.builder(pg).tablePrefix(prefix).build();
        theFourthCreationIsRefused(pg, limits);
    }

    private void theFourthCreationIsRefused(DataSource db, LimitStore limits) throws Exception {
        closing.add(limits::close);
        JdbcSessionStore sessions =
                JdbcSessionStore.builder(db).tablePrefix(prefix).build();
        ProxyConfig config = ProxySettings.from(Map.of(
                        "policies.anonymous.requests-per-minute", "3",
                        "access.trusted-proxies", "127.0.0.1"))
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        // Never called: creating a session reaches no upstream.
                        .upstream(UpstreamConfig.defaults().withBaseUrl(java.net.URI.create("http://127.0.0.1:9"))))
                .build();
        TomcatProxy proxy = TomcatProxy.servlet(ProxyEngine.builder(config)
                .limitStore(limits)
                .sessions(sessions)
                .build());
        closing.add(proxy);

        List<String> created = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> ok = send(proxy, "POST", "/sessions", "10.1.2.3");
            assertThat(ok.statusCode()).as(ok.body()).isEqualTo(201);
            assertThat(ok.headers().firstValue("x-ratelimit-limit-requests")).hasValue("3");
            assertThat(ok.headers().firstValue("x-ratelimit-remaining-requests"))
                    .hasValue(Integer.toString(2 - i));
            created.add(JSON.readTree(ok.body()).path("sessionId").asText());
        }

        HttpResponse<String> refused = send(proxy, "POST", "/sessions", "10.1.2.3");
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(429);
        JsonNode body = JSON.readTree(refused.body());
        assertThat(body.path("error").asText()).isEqualTo("Too Many Requests");
        assertThat(body.path("message").asText()).contains("requests-per-minute");
        assertThat(refused.headers().firstValue("Retry-After").map(Integer::parseInt))
                .hasValueSatisfying(s -> assertThat(s).isBetween(1, 60));
        assertThat(refused.headers().firstValue("x-ratelimit-limit-requests")).hasValue("3");
        assertThat(refused.headers().firstValue("x-ratelimit-remaining-requests"))
                .hasValue("0");
        assertThat(refused.headers().firstValue("x-ratelimit-reset-requests")).isPresent();
        assertThat(rows(db)).isEqualTo(3);

        // Counted per caller: another address still creates one.
        assertThat(send(proxy, "POST", "/sessions", "10.9.9.9").statusCode()).isEqualTo(201);
        // Reading and deleting are not counted: a caller at its limit can still read and clean up.
        String id = created.get(0);
        assertThat(send(proxy, "GET", "/sessions/" + id + "/messages", "10.1.2.3")
                        .statusCode())
                .isEqualTo(200);
        assertThat(send(proxy, "DELETE", "/sessions/" + id, "10.1.2.3").statusCode())
                .isEqualTo(200);
        assertThat(rows(db)).isEqualTo(3);
    }

    private HttpResponse<String> send(TomcatProxy proxy, String method, String path, String caller) throws Exception {
        return http.send(
                HttpRequest.newBuilder(proxy.uri(path))
                        .header("X-Forwarded-For", caller)
                        .method(method, HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private long rows(DataSource db) throws Exception {
        try (Connection c = db.getConnection();
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT COUNT(*) FROM " + prefix + "sessions")) {
            r.next();
            return r.getLong(1);
        }
    }
}
