package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A named upstream's call that its {@code timeout} ended after the whole request was sent is billed by that
 * upstream, even when a retry or a fallback then answers: the request is charged the timed-out call's estimated
 * input (its own ledger row, flagged estimated) and the answer's real usage (another row), both in the budget.
 */
class TimedOutAttemptChargeHttpTest {
    /** About 2000 input tokens. */
    private static final String LONG_PROMPT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":5,\"messages\":[{\"role\":"
            + "\"user\",\"content\":\"" + "word ".repeat(2000) + "\"}]}";

    private static final String ANSWER = "{\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":2000,"
            + "\"completion_tokens\":1,\"total_tokens\":2001}}";

    @RegisterExtension
    static WireMockExtension first = Upstream.extension();

    @RegisterExtension
    static WireMockExtension second = Upstream.extension();

    private final InMemoryUsageLedger ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
    private TomcatProxy proxy;

    /**
     * One quick call through a throwaway proxy first, as in {@code ResponseTimeoutChargeHttpTest}: the JVM's first call
     * loads the upstream client's classes, and on a busy machine that took most of a 1.5 s timeout before the prompt
     * was sent whole (then rightly charged nothing).
     */
    @BeforeAll
    static void warmUp() {
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson(ANSWER)));
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(Map.of(
                                "upstreams.first.base-url", first.baseUrl(),
                                "upstreams.first.keys", "sk-first-0123456789abcdefghijklmnop",
                                "upstreams.first.models", "gpt-4o-mini"))
                        .toConfig())
                .build();
        try (TomcatProxy warm = TomcatProxy.servlet(engine)) {
            HttpResponse<String> r = Http.postJson(warm.uri("/v1/chat/completions"), LONG_PROMPT);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        first.resetAll();
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void start(Map<String, String> upstreams) {
        Map<String, String> s = new HashMap<>(upstreams);
        s.put("upstreams.first.base-url", first.baseUrl());
        s.put("upstreams.first.keys", "sk-first-0123456789abcdefghijklmnop");
        s.put("upstreams.first.models", "gpt-4o-mini");
        // Long enough for a cold client to send the request whole on a busy machine: then the upstream has it.
        s.put("upstreams.first.timeout", "1500ms");
        // One request charged twice (about 4000 tokens) leaves no room for a second (about 2005 reserved); one
        // charged once (about 2000) would.
        s.put("policies.anonymous.tokens-per-day", "5000");
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .usageLedger(ledger)
                .build();
        proxy = TomcatProxy.servlet(engine);
    }

    @Test
    void aFallbackAfterATimeoutChargesTheTimedOutCallAndTheAnswer() throws InterruptedException {
        start(Map.of(
                "upstreams.first.retries", "0",
                "upstreams.first.fallback", "second",
                "upstreams.second.kind", "compatible",
                "upstreams.second.base-url", second.baseUrl()));
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson(ANSWER).withFixedDelay(5000)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson(ANSWER)));

        HttpResponse<String> r = Http.postJson(proxy.uri("/v1/chat/completions"), LONG_PROMPT);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first timeout, second 200");
        List<UsageRecord> rows = rows(2);
        assertTimedOut(rows.get(0), "first");
        assertAnswered(rows.get(1), "second");
        assertBudgetHoldsBoth();
    }

    @Test
    void aRetryOnTheSameUpstreamAfterATimeoutChargesBothCalls() throws InterruptedException {
        start(Map.of("upstreams.first.retries", "1"));
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .inScenario("slow, then quick")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(okJson(ANSWER).withFixedDelay(5000))
                .willSetStateTo("quick"));
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .inScenario("slow, then quick")
                .whenScenarioStateIs("quick")
                .willReturn(okJson(ANSWER)));

        HttpResponse<String> r = Http.postJson(proxy.uri("/v1/chat/completions"), LONG_PROMPT);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first timeout, first 200");
        List<UsageRecord> rows = rows(2);
        assertTimedOut(rows.get(0), "first");
        assertAnswered(rows.get(1), "first");
        assertBudgetHoldsBoth();
    }

    /** The ledger's rows once {@code n} are there, oldest first. */
    private List<UsageRecord> rows(int n) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (ledger.rows().size() < n && System.nanoTime() - deadline < 0) {
            Thread.sleep(20);
        }
        Thread.sleep(100); // no third row follows
        List<UsageRecord> rows = ledger.rows().stream()
                .sorted(java.util.Comparator.comparingInt(UsageRecord::upstreamStatus))
                .toList();
        assertThat(rows).as("one row per call the upstream billed").hasSize(n);
        return rows;
    }

    private static void assertTimedOut(UsageRecord row, String upstream) {
        assertThat(row.upstream()).isEqualTo(upstream);
        assertThat(row.upstreamStatus()).isZero();
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
        assertThat(row.estimated())
                .as("the timed-out call's input is an estimate")
                .isTrue();
        assertThat(row.usage().inputTokens()).isGreaterThan(1500);
        assertThat(row.usage().outputTokens()).isZero();
    }

    private static void assertAnswered(UsageRecord row, String upstream) {
        assertThat(row.upstream()).isEqualTo(upstream);
        assertThat(row.upstreamStatus()).isEqualTo(200);
        assertThat(row.proxyStatus()).isEqualTo(200);
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
        assertThat(row.estimated()).isFalse();
        assertThat(row.usage().inputTokens()).isEqualTo(2000);
        assertThat(row.usage().outputTokens()).isEqualTo(1);
    }

    /** A second prompt no longer fits the day's tokens: refused before any upstream call. */
    private void assertBudgetHoldsBoth() {
        HttpResponse<String> again = Http.postJson(proxy.uri("/v1/chat/completions"), LONG_PROMPT);
        assertThat(again.statusCode())
                .as("the day's budget holds both calls' input: " + again.body())
                .isEqualTo(429);
        java.util.regex.Matcher used =
                java.util.regex.Pattern.compile("used (\\d+)").matcher(again.body());
        assertThat(used.find()).as(again.body()).isTrue();
        assertThat(Long.parseLong(used.group(1)))
                .as("the timed-out call's input (about 2000) and the answer's 2001")
                .isGreaterThan(3500);
        assertThat(again.headers().firstValue("OpenAI-Proxy-Attempts")).isEmpty();
    }
}
