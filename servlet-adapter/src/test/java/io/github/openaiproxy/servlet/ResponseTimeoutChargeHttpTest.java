package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
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
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A call the proxy ends at {@code response-timeout} (504) was sent whole: the upstream read the prompt and bills
 * it. It is charged its estimated input, in the ledger (flagged estimated, outcome upstream_failed) and in the
 * budget, like a call whose client left before the answer; refunding it would make a slow prompt free.
 */
class ResponseTimeoutChargeHttpTest {
    /** About 2000 input tokens. */
    private static final String LONG_PROMPT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":5,\"messages\":[{\"role\":"
            + "\"user\",\"content\":\"" + "word ".repeat(2000) + "\"}]}";

    /**
     * The wait for the answer: long enough for the first call of a cold client to go whole on a busy machine (at
     * 500 ms it sometimes had not, and a call still sending is rightly charged nothing).
     */
    private static final String SLOW = "1500ms";

    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    private final InMemoryUsageLedger ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
    private TomcatProxy proxy;

    /**
     * One quick call through a throwaway proxy first: the JVM's first call loads the upstream client's classes, and on
     * a busy machine that alone took most of the wait, or all of it (the upstream never had the prompt, rightly
     * charged nothing).
     */
    @BeforeAll
    static void warmUp() {
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson("{\"choices\":[]}")));
        ProxyEngine engine = ProxyEngine.builder(
                        ProxySettings.from(Map.of("api-key", Upstream.SERVER_KEY, "base-url", upstream.baseUrl()))
                                .toConfig())
                .build();
        try (TomcatProxy warm = TomcatProxy.servlet(engine)) {
            HttpResponse<String> r = Http.postJson(warm.uri("/v1/chat/completions"), LONG_PROMPT);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        upstream.resetAll();
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void start(boolean named) {
        Map<String, String> s = new HashMap<>();
        if (named) {
            s.put("upstreams.slow.base-url", upstream.baseUrl());
            s.put("upstreams.slow.keys", "sk-slow-0123456789abcdefghijklmnop");
            s.put("upstreams.slow.models", "gpt-4o-mini");
            s.put("upstreams.slow.retries", "0");
            s.put("upstreams.slow.timeout", SLOW);
        } else {
            s.put("api-key", Upstream.SERVER_KEY);
            s.put("base-url", upstream.baseUrl());
            s.put("response-timeout", SLOW);
        }
        // One prompt fits the day's budget; after it is charged, a second does not.
        s.put("policies.anonymous.tokens-per-day", "3000");
        ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .usageLedger(ledger)
                .build();
        proxy = TomcatProxy.servlet(engine);
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":2000,"
                                + "\"completion_tokens\":1,\"total_tokens\":2001}}")
                        .withFixedDelay(5000)));
    }

    @ParameterizedTest(name = "named upstream: {0}")
    @ValueSource(booleans = {false, true})
    void aCallEndedByTheResponseTimeoutIsChargedItsEstimatedInput(boolean named) throws InterruptedException {
        start(named);

        HttpResponse<String> timedOut = Http.postJson(proxy.uri("/v1/chat/completions"), LONG_PROMPT);

        assertThat(timedOut.statusCode()).as(timedOut.body()).isEqualTo(504);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (ledger.rows().isEmpty() && System.nanoTime() - deadline < 0) {
            Thread.sleep(20);
        }
        UsageRecord row = ledger.rows().get(0);
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
        assertThat(row.proxyStatus()).isEqualTo(504);
        assertThat(row.estimated()).as("the input is an estimate").isTrue();
        assertThat(row.usage().inputTokens()).isGreaterThan(1500);
        assertThat(row.usage().outputTokens()).isZero();

        HttpResponse<String> again = Http.postJson(proxy.uri("/v1/chat/completions"), LONG_PROMPT);
        assertThat(again.statusCode())
                .as("the day's budget holds the first prompt's input: " + again.body())
                .isEqualTo(429);
        assertThat(Upstream.requests(upstream))
                .as("the second prompt never left")
                .hasSize(1);
    }

    /**
     * A response-timeout that ends a call still connecting (an upstream address that drops packets, a response
     * timeout shorter than the connect timeout) charges nothing: the upstream never had the prompt.
     */
    @ParameterizedTest(name = "upstream-client {0}")
    @ValueSource(strings = {"jetty", "jdk"})
    void aCallTheTimeoutEndsBeforeTheRequestWasSentIsChargedNothing(String client) throws Exception {
        // A loopback listener whose accept queue is full: the kernel drops further SYNs, so connects hang.
        try (java.net.ServerSocket blackhole =
                new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            java.util.List<java.net.Socket> queued = new java.util.ArrayList<>();
            try {
                while (true) {
                    java.net.Socket s = new java.net.Socket();
                    try {
                        s.connect(blackhole.getLocalSocketAddress(), 300);
                        queued.add(s);
                    } catch (java.net.SocketTimeoutException full) {
                        s.close();
                        break;
                    }
                }
                Map<String, String> s = new HashMap<>();
                s.put("api-key", Upstream.SERVER_KEY);
                s.put("base-url", "http://127.0.0.1:" + blackhole.getLocalPort());
                s.put("upstream-client", client);
                s.put("connect-timeout", "5s");
                s.put("response-timeout", "500ms");
                s.put("policies.anonymous.tokens-per-day", "3000");
                ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s).toConfig())
                        .usageLedger(ledger)
                        .build();
                proxy = TomcatProxy.servlet(engine);

                HttpResponse<String> timedOut = Http.postJson(proxy.uri("/v1/chat/completions"), LONG_PROMPT);

                assertThat(timedOut.statusCode()).as(timedOut.body()).isEqualTo(504);
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (ledger.rows().isEmpty() && System.nanoTime() - deadline < 0) {
                    Thread.sleep(20);
                }
                UsageRecord row = ledger.rows().get(0);
                assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
                assertThat(row.estimated()).isFalse();
                assertThat(row.usage().inputTokens())
                        .as("nothing reached the upstream")
                        .isZero();
            } finally {
                for (java.net.Socket q : queued) {
                    q.close();
                }
            }
        }
    }
}
