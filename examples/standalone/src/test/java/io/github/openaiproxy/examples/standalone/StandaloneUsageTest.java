package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The usage ledger of the standalone server: kept in its H2 file with {@code ledger.store=jdbc}, summed over real
 * HTTP on {@code GET /admin/usage} (admins only; bad parameters named), and by the {@code usage} command line
 * from the same file once the server is gone (its close wrote what was queued).
 */
class StandaloneUsageTest {
    static final String HOSTILE_KEY = "key_x' OR '1'='1";
    static final String TOKEN = StandaloneAdminTest.TOKEN;
    static final com.fasterxml.jackson.databind.ObjectMapper JSON = StandaloneAdminTest.JSON;

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    /** The admin test's helpers (server, HTTP calls) on this test's directory. */
    private StandaloneAdminTest admin() {
        StandaloneAdminTest a = new StandaloneAdminTest();
        a.dir = dir;
        return a;
    }

    Map<String, String> env(boolean enabled) {
        return admin().env(enabled);
    }

    StandaloneServer start(Map<String, String> env) throws Exception {
        return admin().start(env);
    }

    HttpResponse<String> call(StandaloneServer server, String method, String path, String body, String token)
            throws Exception {
        return admin().call(server, method, path, body, token);
    }

    record Run(int code, String out, String err) {}

    Map<String, String> ledgerEnv() {
        Map<String, String> env = env(true);
        env.put("OPENAI_PROXY_LEDGER_STORE", "jdbc");
        env.put("OPENAI_PROXY_LEDGER_FLUSH_INTERVAL", "20ms");
        return env;
    }

    static UsageRecord row(Instant at, String keyId, String model, long in, long out, long costNano) {
        return new UsageRecord(
                at,
                "PROXY_KEY",
                keyId,
                keyId,
                "team-a",
                "keys",
                "/v1/chat/completions",
                model,
                model,
                "default",
                200,
                200,
                new TokenUsage(in, 0, out, 0, 0),
                costNano,
                false,
                true,
                UsageRecord.Outcome.COMPLETED,
                1000,
                100,
                null);
    }

    Run usage(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = UsageCommand.run(
                args,
                env,
                dir,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static String q(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    @Test
    void usageIsSummedOverRestAndOnTheCommandLine() throws Exception {
        Map<String, String> env = ledgerEnv();
        Instant now = Instant.now();
        try (StandaloneServer server = start(env)) {
            BatchingUsageLedger ledger = (BatchingUsageLedger) server.engine().usageLedger();
            for (int i = 0; i < 30; i++) {
                ledger.record(row(now.minus(Duration.ofHours(i)), "key_a", "gpt-4o", 100, 10, 1_000_000));
            }
            for (int i = 0; i < 10; i++) {
                ledger.record(row(now.minus(Duration.ofHours(i)), "key_b", "gpt-4o-mini", 50, 5, 1000));
            }
            ledger.record(row(now.minusSeconds(60), HOSTILE_KEY, "gpt-4o-mini", 1, 1, 1));
            await().atMost(Duration.ofSeconds(20)).until(() -> ledger.written() >= 41);
            assertThat(ledger.written()).isEqualTo(41);

            HttpResponse<String> byKey = call(server, "GET", "/admin/usage?since=7d&by=key", null, TOKEN);
            assertThat(byKey.statusCode()).isEqualTo(200);
            JsonNode body = JSON.readTree(byKey.body());
            assertThat(body.get("by").asText()).isEqualTo("key");
            JsonNode first = body.get("data").get(0);
            assertThat(first.get("group").asText()).isEqualTo("key_a");
            assertThat(first.get("requests").asLong()).isEqualTo(30);
            assertThat(first.get("inputTokens").asLong()).isEqualTo(3000);
            assertThat(first.get("outputTokens").asLong()).isEqualTo(300);
            assertThat(first.get("costUsd").decimalValue()).isEqualByComparingTo("0.03");
            assertThat(body.get("data")).hasSize(3);
            assertThat(body.get("has_more").asBoolean()).isFalse();
            // fewer groups asked for than there are: the largest, and has_more says the sum of data is not all
            JsonNode limited = JSON.readTree(call(server, "GET", "/admin/usage?since=7d&by=key&limit=2", null, TOKEN)
                    .body());
            assertThat(limited.get("data")).hasSize(2);
            assertThat(limited.at("/data/0/group").asText()).isEqualTo("key_a");
            assertThat(limited.get("has_more").asBoolean()).isTrue();

            JsonNode byModel =
                    JSON.readTree(call(server, "GET", "/admin/usage?since=7d&by=model&key=key_b", null, TOKEN)
                            .body());
            assertThat(byModel.get("data")).hasSize(1);
            assertThat(byModel.at("/data/0/group").asText()).isEqualTo("gpt-4o-mini");
            assertThat(byModel.at("/data/0/requests").asLong()).isEqualTo(10);

            // a key id that looks like SQL is a value: it finds its own row only
            JsonNode hostile =
                    JSON.readTree(call(server, "GET", "/admin/usage?since=1d&by=key&key=" + q(HOSTILE_KEY), null, TOKEN)
                            .body());
            assertThat(hostile.get("data")).hasSize(1);
            assertThat(hostile.at("/data/0/group").asText()).isEqualTo(HOSTILE_KEY);

            // bad parameters: 400 naming the parameter, never a 5xx
            Map<String, String> bad = Map.of(
                    "since=" + q(now.plus(Duration.ofDays(1)).toString()),
                    "since must be before until",
                    "since=-7d&by=key",
                    "since",
                    "since=99999999d",
                    "since",
                    "since=7d&by=" + q("key; DROP TABLE x"),
                    "by",
                    "by=key",
                    "since",
                    "since=7d&limit=0",
                    "limit",
                    "since=7d&until=8d",
                    "until",
                    "since=7d&identity=nobody",
                    "identity",
                    "since=7d&bogus=1",
                    "bogus");
            for (Map.Entry<String, String> e : bad.entrySet()) {
                HttpResponse<String> r = call(server, "GET", "/admin/usage?" + e.getKey(), null, TOKEN);
                assertThat(r.statusCode()).as(e.getKey()).isEqualTo(400);
                JsonNode error = JSON.readTree(r.body()).get("error");
                assertThat(error.get("message").asText() + " "
                                + error.path("param").asText())
                        .as(e.getKey())
                        .contains(e.getValue());
            }

            // not an admin: 401, and nothing is answered
            for (String token : new String[] {null, "wrong"}) {
                HttpResponse<String> r = call(server, "GET", "/admin/usage?since=7d", null, token);
                assertThat(r.statusCode()).isEqualTo(401);
                assertThat(r.body()).doesNotContain("key_a");
            }
            // a last record, queued when the server stops: its close writes it
            ledger.record(row(now.minusSeconds(5), "key_c", "gpt-4o", 7, 7, 7));
        }

        Run cli = usage(env, "usage", "--since", "7d", "--by", "model");
        assertThat(cli.code()).as(cli.err()).isZero();
        assertThat(cli.out()).contains("MODEL").contains("gpt-4o-mini").contains("TOTAL");
        assertThat(cli.out()
                        .lines()
                        .filter(l -> l.startsWith("gpt-4o "))
                        .findFirst()
                        .orElseThrow())
                .contains(" 31 ");
        Run byKey = usage(env, "usage", "--since=2d", "--by=key", "--key", "key_c");
        assertThat(byKey.code()).isZero();
        assertThat(byKey.out()).contains("key_c").doesNotContain("key_a");

        Run badBy = usage(env, "usage", "--since", "7d", "--by", "planet");
        assertThat(badBy.code()).isEqualTo(2);
        assertThat(badBy.err()).contains("--by");
        assertThat(usage(env, "usage", "--since", "-1d").code()).isEqualTo(2);
        assertThat(usage(env, "usage", "--nope", "1").code()).isEqualTo(2);

        // Fewer groups asked for than there are: TOTAL is still the range's (42 requests of 4 keys), not the sum of
        // the two lines shown, and the table says groups were left out.
        Run limited = usage(env, "usage", "--since", "7d", "--by", "key", "--limit", "2");
        assertThat(limited.code()).as(limited.err()).isZero();
        assertThat(limited.out().lines().filter(l -> l.startsWith("key_"))).hasSize(2);
        assertThat(limited.out()
                        .lines()
                        .filter(l -> l.startsWith("TOTAL"))
                        .findFirst()
                        .orElseThrow())
                .contains(" 42 ");
        assertThat(limited.out()).contains("more groups than --limit 2");
        Run all = usage(env, "usage", "--since", "7d", "--by", "key");
        assertThat(all.out()).doesNotContain("more groups");
    }

    /**
     * A bad command line says what is wrong with it (a value missing, an option given twice, one that does not
     * exist), exits 2 and touches no database; {@code --help} prints the usage and exits 0. Never a stack trace.
     */
    /** At the largest {@code --limit}, the table still says when groups were left out. */
    @Test
    void atTheLargestLimitTheTableSaysGroupsWereLeftOut() throws Exception {
        Map<String, String> env = ledgerEnv();
        env.put("OPENAI_PROXY_LEDGER_QUEUE_SIZE", "20000"); // every row queued at once, none dropped
        Instant now = Instant.now();
        int models = UsageQuery.MAX_LIMIT + 1;
        try (StandaloneServer server = start(env)) {
            BatchingUsageLedger ledger = (BatchingUsageLedger) server.engine().usageLedger();
            for (int i = 0; i < models; i++) {
                ledger.record(row(now.minusSeconds(60), "key_a", "model-" + i, 1, 1, 1));
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> ledger.written() >= models);
        }
        String max = Integer.toString(UsageQuery.MAX_LIMIT);
        Run r = usage(env, "usage", "--since", "7d", "--by", "model", "--limit", max);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("more groups than --limit " + max);
    }

    @Test
    void badArgumentsSayWhatIsWrongAndHelpIsNoError() {
        Map<String, String> env = env(true);
        Map<String[], String> bad = new java.util.LinkedHashMap<>();
        bad.put(new String[] {"usage", "--since"}, "--since needs a value");
        bad.put(new String[] {"usage", "--since", "7d", "--by"}, "--by needs a value");
        bad.put(new String[] {"usage", "--since=7d", "--since", "8d"}, "--since is given twice");
        bad.put(new String[] {"usage", "--since", "7d", "--color", "red"}, "unknown option --color");
        bad.put(new String[] {"usage", "--since", "7d", "extra"}, "unexpected extra");
        bad.put(new String[] {"usage", "--since", "7d", "--by", "nope"}, "--by: by must be key, user, model");
        for (Map.Entry<String[], String> b : bad.entrySet()) {
            Run r = usage(env, b.getKey());
            assertThat(r.code()).as(String.join(" ", b.getKey())).isEqualTo(2);
            assertThat(r.err())
                    .as(String.join(" ", b.getKey()))
                    .contains(b.getValue())
                    .contains("usage: java -jar openai-proxy-standalone.jar usage")
                    .doesNotContain("Exception")
                    .doesNotContain("\tat ");
            assertThat(r.out()).isEmpty();
        }
        for (String help : new String[] {"--help", "-h"}) {
            Run r = usage(env, "usage", help);
            assertThat(r.code()).as(help).isZero();
            assertThat(r.out()).startsWith("usage: java -jar openai-proxy-standalone.jar usage --since");
            assertThat(r.err()).isEmpty();
        }
        assertThat(dir.resolve("data")).as("no database was opened").doesNotExist();
    }

    /**
     * Where no server ever ran (the wrong working directory, an H2 file that is not there): {@code usage} says there
     * is no database, exits 1, and leaves no new database file behind (H2 would create an empty one).
     */
    @Test
    void usageWhereNoDatabaseIsSaysSoAndCreatesNone() {
        Run r = usage(env(true), "usage", "--since", "7d");
        assertThat(r.code()).as(r.out()).isEqualTo(1);
        assertThat(r.err()).contains("no database at").contains("openai-proxy");
        assertThat(dir.resolve("data")).doesNotExist();

        Map<String, String> elsewhere = env(true);
        elsewhere.put(
                "OPENAI_PROXY_DB_URL", "jdbc:h2:file:" + dir.resolve("nowhere").resolve("db") + ";AUTO_SERVER=TRUE");
        Run configured = usage(elsewhere, "usage", "--since", "7d");
        assertThat(configured.code()).isEqualTo(1);
        assertThat(configured.err()).contains("no database at");
        assertThat(dir.resolve("nowhere")).doesNotExist();
    }

    /** A {@code ledger.query-timeout} the server would refuse is refused here too, named, not quietly ignored. */
    @Test
    void aQueryTimeoutTheServerRefusesIsRefusedByUsageToo() throws Exception {
        Map<String, String> env = ledgerEnv();
        start(env).close();
        env.put("OPENAI_PROXY_LEDGER_QUERY_TIMEOUT", "500ms");
        Run r = usage(env, "usage", "--since", "7d");
        assertThat(r.code()).as(r.out()).isEqualTo(1);
        assertThat(r.err()).contains("configuration error").contains("ledger.query-timeout");
    }

    @Test
    void withoutALedgerTheUsageRouteIs404() throws Exception {
        try (StandaloneServer server = start(env(true))) {
            HttpResponse<String> r = call(server, "GET", "/admin/usage?since=7d", null, TOKEN);
            assertThat(r.statusCode()).isEqualTo(404);
            assertThat(JSON.readTree(r.body()).at("/error/code").asText()).isEqualTo("ledger_off");
        }
    }

    /**
     * A server that ran without the ledger left a database with its sessions and keys but no ledger: {@code usage}
     * says so and creates no table there (a reader must not change the schema a server will migrate).
     */
    @Test
    void usageOnADatabaseWithoutALedgerSaysSoAndCreatesNoTable() throws Exception {
        Map<String, String> env = env(true);
        try (StandaloneServer server = start(env)) {
            assertThat(server.port()).isPositive(); // ran, with its sessions and keys in the file
        }
        Run r = usage(env, "usage", "--since", "7d", "--by", "model");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("no usage ledger in this database");
        try (com.zaxxer.hikari.HikariDataSource db = SessionStorage.pool(env, dir, "check");
                java.sql.Connection c = db.getConnection();
                java.sql.ResultSet tables =
                        c.getMetaData().getTables(null, c.getSchema(), "%USAGE%", new String[] {"TABLE"})) {
            assertThat(tables.next())
                    .as("a usage table: %s", tables.getRow() > 0 ? tables.getString("TABLE_NAME") : "")
                    .isFalse();
        }
    }
}
