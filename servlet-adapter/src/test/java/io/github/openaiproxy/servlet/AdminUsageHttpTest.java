package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@code GET /admin/usage} over real HTTP at its largest limit: {@code has_more} still says when the limit left
 * groups out, so a caller never takes {@value UsageQuery#MAX_LIMIT} groups for the whole range's usage.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdminUsageHttpTest {
    static final String TOKEN = "admin-token-for-usage-tests-0123456789";
    /** One model more than the most groups an answer holds. */
    static final int MODELS = UsageQuery.MAX_LIMIT + 1;

    TomcatProxy proxy;

    @BeforeAll
    void start() {
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), null));
        ProxyEngine engine = ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:9")))
                        .access(access)
                        .ledger(LedgerConfig.DEFAULTS.withStore(LedgerConfig.Store.MEMORY))
                        .build())
                .build();
        for (int i = 0; i < MODELS; i++) {
            engine.usageLedger().record(row("model-" + i, 1_000 + i));
        }
        proxy = TomcatProxy.servlet(engine);
    }

    @AfterAll
    void stop() {
        proxy.close();
    }

    @Test
    void atTheLargestLimitHasMoreStillSaysGroupsWereLeftOut() throws Exception {
        RawHttp.Response r = get("/admin/usage?since=1d&by=model&limit=" + UsageQuery.MAX_LIMIT);
        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        JsonNode answer = new ObjectMapper().readTree(r.bodyText());
        assertThat(answer.get("data")).hasSize(UsageQuery.MAX_LIMIT);
        assertThat(answer.get("has_more").asBoolean())
                .as("%d models, %d shown", MODELS, UsageQuery.MAX_LIMIT)
                .isTrue();
    }

    @Test
    void aLimitOverTheLargestIsStillRefused() {
        RawHttp.Response r = get("/admin/usage?since=1d&by=model&limit=" + (UsageQuery.MAX_LIMIT + 1));
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.bodyText()).contains("\"param\":\"limit\"");
    }

    RawHttp.Response get(String target) {
        return RawHttp.exchange(
                proxy.port(),
                "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN
                        + "\r\nConnection: close\r\n",
                new byte[0]);
    }

    static UsageRecord row(String model, long costNanoUsd) {
        return new UsageRecord(
                Instant.now().minusSeconds(120),
                "PROXY_KEY",
                "key_a",
                "key_a",
                "alice",
                "keys",
                "/v1/chat/completions",
                model,
                model,
                "default",
                200,
                200,
                new TokenUsage(10, 0, 1, 0, 0),
                costNanoUsd,
                false,
                false,
                UsageRecord.Outcome.COMPLETED,
                1,
                -1,
                null);
    }
}
