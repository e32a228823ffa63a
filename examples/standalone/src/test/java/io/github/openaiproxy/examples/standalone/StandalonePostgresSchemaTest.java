package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Servers on a PostgreSQL schema of their own ({@code currentSchema} in the URL; each test has one, dropped
 * afterwards), as operators run several: tables made beforehand for a user without CREATE, and a retention
 * sweep that meets another instance's.
 */
class StandalonePostgresSchemaTest {
    private static final String URL = System.getenv("OPENAI_PROXY_TEST_PG_URL");
    private static final String USER = System.getenv("OPENAI_PROXY_TEST_PG_USER");
    private static final String PASSWORD = System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD");

    final HttpClient http = HttpClient.newHttpClient();
    final String schema = "p" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT);

    @BeforeEach
    void createSchema() throws SQLException {
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(URL)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(
                URL != null && !URL.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set: PostgreSQL test skipped");
        sql("CREATE SCHEMA " + schema);
    }

    @AfterEach
    void dropSchema() throws SQLException {
        if (URL != null && !URL.isBlank()) {
            // The owner may always grant back what it revoked from itself.
            sql("GRANT CREATE ON SCHEMA " + schema + " TO CURRENT_USER", "DROP SCHEMA " + schema + " CASCADE");
        }
    }

    @Test
    void aUserWithoutCreateRightsStartsOnTablesMadeBeforehand() throws Exception {
        Map<String, String> env = env();
        env.put("OPENAI_PROXY_LIMITS_STORE", "jdbc");
        env.put("OPENAI_PROXY_LEDGER_STORE", "jdbc");
        env.put("OPENAI_PROXY_IMAGES_STORE", "jdbc");
        // The tables as a first start makes them, with the right to create.
        try (StandaloneServer first = start(env)) {
            assertThat(post(first, "/sessions").statusCode()).isEqualTo(201);
        }
        // Then the schema is the DBA's: the proxy's user may read and write the tables, create nothing.
        sql("REVOKE CREATE ON SCHEMA " + schema + " FROM CURRENT_USER");

        try (StandaloneServer server = start(env)) {
            HttpResponse<String> created = post(server, "/sessions");
            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
            String id = StandaloneSessionsTest.field(created.body(), "sessionId");
            assertThat(get(server, "/sessions/" + id).statusCode()).isEqualTo(200);
        }
    }

    /**
     * Another instance is deleting expired sessions (it holds their rows): this one's {@code POST /sessions}, which
     * sweeps expired sessions too, answers at once instead of waiting for the other's transaction to end.
     */
    @Test
    void aSessionCreatedWhileAnotherInstanceSweepsDoesNotWaitForIt() throws Exception {
        Map<String, String> env = env();
        env.put("OPENAI_PROXY_SESSIONS_RETENTION", "30d");
        try (StandaloneServer server = start(env);
                Connection other = DriverManager.getConnection(URL, USER, PASSWORD)) {
            try (Statement s = other.createStatement()) {
                s.execute("INSERT INTO " + schema + ".openai_proxy_sessions (id, created_at, updated_at, last_seq)"
                        + " VALUES ('ses_expired', now() - interval '40 days', now() - interval '40 days', 0)");
                other.setAutoCommit(false);
                s.executeQuery("SELECT id FROM " + schema
                                + ".openai_proxy_sessions WHERE id = 'ses_expired' FOR UPDATE")
                        .close();
            }
            try {
                HttpResponse<String> created = http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/sessions"))
                                .POST(HttpRequest.BodyPublishers.noBody())
                                .timeout(java.time.Duration.ofSeconds(5))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
            } finally {
                other.rollback();
            }
        }
    }

    /**
     * The {@code usage} command reads at most {@code ledger.query-timeout}, as the server does: a summary whose tables
     * another transaction holds is cancelled after the configured 1 s (exit 1, saying so), not the store's own 30 s.
     */
    @Test
    void theUsageCommandHonoursTheLedgerQueryTimeout() throws Exception {
        Map<String, String> env = env();
        env.put("OPENAI_PROXY_LEDGER_STORE", "jdbc");
        env.put("OPENAI_PROXY_LEDGER_QUERY_TIMEOUT", "1s");
        // The ledger's tables, as the server makes them.
        start(env).close();
        try (Connection locker = DriverManager.getConnection(URL, USER, PASSWORD)) {
            locker.setAutoCommit(false);
            try (Statement s = locker.createStatement()) {
                s.execute("LOCK TABLE " + schema + ".openai_proxy_usage, " + schema
                        + ".openai_proxy_usage_daily IN ACCESS EXCLUSIVE MODE");
            }
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
            long started = System.nanoTime();
            int code = UsageCommand.run(
                    new String[] {"usage", "--since", "7d"},
                    env,
                    null,
                    new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8),
                    new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
            java.time.Duration took = java.time.Duration.ofNanos(System.nanoTime() - started);
            locker.rollback();
            String printed = err.toString(java.nio.charset.StandardCharsets.UTF_8);
            assertThat(code).as(printed).isEqualTo(1);
            assertThat(printed).contains("longer than 1s and was cancelled");
            assertThat(took).isLessThan(java.time.Duration.ofSeconds(10));
        }
    }

    private Map<String, String> env() {
        Map<String, String> env = new HashMap<>();
        env.put("OPENAI_PROXY_DB_URL", URL + (URL.contains("?") ? "&" : "?") + "currentSchema=" + schema);
        env.put("OPENAI_PROXY_DB_USER", USER);
        env.put("OPENAI_PROXY_DB_PASSWORD", PASSWORD);
        env.put("OPENAI_PROXY_DB_POOL_SIZE", "2");
        return env;
    }

    private StandaloneServer start(Map<String, String> env) throws Exception {
        return StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env);
    }

    private HttpResponse<String> post(StandaloneServer server, String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(""))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(StandaloneServer server, String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static void sql(String... statements) throws SQLException {
        try (Connection c = DriverManager.getConnection(URL, USER, PASSWORD);
                Statement s = c.createStatement()) {
            for (String statement : statements) {
                s.execute(statement);
            }
        }
    }
}
