package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.core.usage.ledger.LedgerUnavailableException;
import io.github.openaiproxy.core.usage.ledger.UsageQueries;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.core.usage.ledger.UsageSink;
import io.github.openaiproxy.core.usage.ledger.UsageSummary;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /admin/usage} through the engine: the admin API's rules (token or role), the ledger summed, bad
 * parameters named, 404 without a ledger, 503 when its store fails; and the engine's ownership of its ledger.
 */
class ProxyEngineAdminUsageTest {
    static final String TOKEN = "admin-token-0123456789abcdef0123456789";

    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    static ProxyConfig.Builder admin(LedgerConfig.Store store) {
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), "proxy-admin"));
        return config(URI.create("http://127.0.0.1:9")).access(access).ledger(LedgerConfig.DEFAULTS.withStore(store));
    }

    static UsageRecord row(String key, String owner, String model, long in, long cost) {
        return new UsageRecord(
                Instant.now().minusSeconds(120),
                "PROXY_KEY",
                key,
                key,
                owner,
                "keys",
                "/v1/chat/completions",
                model,
                model,
                "default",
                200,
                200,
                new TokenUsage(in, 0, 1, 0, 0),
                cost,
                false,
                false,
                UsageRecord.Outcome.COMPLETED,
                1,
                -1,
                null);
    }

    private Answer get(String pathAndQuery) {
        return send(engine, request(pathAndQuery).header("Authorization", "Bearer " + TOKEN));
    }

    /** A GET of {@code path?query}, as an adapter hands it to the engine. */
    private static io.github.openaiproxy.core.http.ProxyRequest.Builder request(String pathAndQuery) {
        int q = pathAndQuery.indexOf('?');
        return EngineFixture.get(q < 0 ? pathAndQuery : pathAndQuery.substring(0, q))
                .rawQuery(q < 0 ? null : pathAndQuery.substring(q + 1));
    }

    @Test
    void anAdminSumsTheMemoryLedgerByEveryGrouping() {
        engine = ProxyEngine.builder(admin(LedgerConfig.Store.MEMORY).build()).build();
        assertThat(engine.usageLedger()).isInstanceOf(InMemoryUsageLedger.class);
        engine.usageLedger().record(row("key_a", "alice", "gpt-4o", 100, 2_000_000_000L));
        engine.usageLedger().record(row("key_a", "alice", "gpt-4o-mini", 10, 1));
        engine.usageLedger().record(row("key_b", "bob", "gpt-4o", 5, 3));

        JsonNode byUser = get("/admin/usage?since=1d&by=user").json();
        assertThat(byUser.get("by").asText()).isEqualTo("user");
        assertThat(byUser.get("data")).extracting(n -> n.get("group").asText()).containsExactly("alice", "bob");
        assertThat(byUser.at("/data/0/requests").asLong()).isEqualTo(2);
        assertThat(byUser.at("/data/0/inputTokens").asLong()).isEqualTo(110);
        assertThat(byUser.at("/data/0/costUsd").decimalValue()).isEqualByComparingTo("2.000000001");

        JsonNode byModel = get("/admin/usage?since=1d&by=model&key=key_a").json();
        assertThat(byModel.get("data"))
                .extracting(n -> n.get("group").asText())
                .containsExactly("gpt-4o", "gpt-4o-mini");
        JsonNode byDay = get("/admin/usage?since=2d&by=day").json();
        assertThat(byDay.at("/data/0/requests").asLong()
                        + byDay.path("data").path(1).path("requests").asLong())
                .isEqualTo(3);
        // an identity filter, URL-encoded
        JsonNode bob =
                get("/admin/usage?since=1d&by=key&identity=PROXY_KEY%3Akey_b").json();
        assertThat(bob.get("data")).extracting(n -> n.get("group").asText()).containsExactly("key_b");
    }

    @Test
    void badParametersAre400NamingTheParameter() {
        engine = ProxyEngine.builder(admin(LedgerConfig.Store.MEMORY).build()).build();
        String[][] cases = {
            {"since=-7d", "since"},
            {"since=10000000d", "since"},
            {"since=7d&by=garbage", "by"},
            {"since=7d&by=key%27%3B%20DROP%20TABLE%20x", "by"},
            {"since=7d&limit=100000", "limit"},
            {"since=7d&key=" + "k".repeat(300), "key"},
            {"since=7d&since=8d", "since"},
            {"since=7d&until=2026-13-01", "until"},
            {"since=7d&bogus=1", "bogus"},
        };
        for (String[] c : cases) {
            Answer a = get("/admin/usage?" + c[0]);
            JsonNode error = a.proxyError(400).get("error");
            assertThat(error.get("message").asText() + " " + error.path("param").asText())
                    .as(c[0])
                    .contains(c[1]);
        }
    }

    @Test
    void nonAdminsAreRefusedAndNothingIsSummed() {
        engine = ProxyEngine.builder(admin(LedgerConfig.Store.MEMORY).build()).build();
        engine.usageLedger().record(row("key_secret", "alice", "gpt-4o", 1, 1));
        Answer none = send(engine, request("/admin/usage?since=7d"));
        assertThat(none.proxyError(401).get("error").get("code").asText()).isEqualTo("invalid_api_key");
        Answer user =
                send(engine, request("/admin/usage?since=7d").user(new AuthenticatedUser("mallory", role -> false)));
        assertThat(user.proxyError(403).get("error").get("code").asText()).isEqualTo("admin_role_required");
        assertThat(user.text()).doesNotContain("key_secret");
        Answer root = send(
                engine,
                request("/admin/usage?since=7d").user(new AuthenticatedUser("root", Set.of("proxy-admin")::contains)));
        assertThat(root.status()).isEqualTo(200);
        assertThat(root.text()).contains("key_secret");
    }

    @Test
    void withoutALedgerTheRouteIs404AndAFailingStoreIs503() {
        engine = ProxyEngine.builder(admin(LedgerConfig.Store.NONE).build()).build();
        assertThat(engine.usageLedger()).isSameAs(UsageLedger.NONE);
        assertThat(get("/admin/usage?since=7d")
                        .proxyError(404)
                        .get("error")
                        .get("code")
                        .asText())
                .isEqualTo("ledger_off");
        engine.close();

        engine = ProxyEngine.builder(admin(LedgerConfig.Store.NONE).build())
                .usageLedger(new Broken())
                .build();
        Answer a = get("/admin/usage?since=7d");
        assertThat(a.proxyError(503).get("error").get("code").asText()).isEqualTo("ledger_unavailable");
        assertThat(a.text()).doesNotContain("password");
    }

    /** A ledger whose database is down. */
    static final class Broken implements UsageLedger, UsageQueries {
        @Override
        public void record(UsageRecord record) {}

        @Override
        public List<UsageSummary> summarize(UsageQuery query) {
            throw new LedgerUnavailableException("connection refused, password=hunter2", null);
        }
    }

    @Test
    void jdbcNeedsTheBuildersLedger() {
        assertThatThrownBy(
                        () -> ProxyEngine.builder(admin(LedgerConfig.Store.JDBC).build())
                                .build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("usageLedger");
    }

    /** The engine closes its ledger last, which writes what was queued. */
    @Test
    void closingTheEngineWritesTheQueuedRecords() {
        List<UsageRecord> written = new CopyOnWriteArrayList<>();
        UsageSink sink = written::addAll;
        BatchingUsageLedger ledger = BatchingUsageLedger.start(
                sink,
                null,
                LedgerConfig.DEFAULTS.withFlushInterval(Duration.ofHours(1)),
                Duration.ofDays(1),
                Clock.systemUTC());
        engine = ProxyEngine.builder(admin(LedgerConfig.Store.NONE).build())
                .usageLedger(ledger)
                .build();
        for (int i = 0; i < 42; i++) {
            engine.usageLedger().record(row("key_" + i, null, "gpt-4o", i, i));
        }
        engine.close();
        engine = null;
        assertThat(written).hasSize(42);
    }
}
