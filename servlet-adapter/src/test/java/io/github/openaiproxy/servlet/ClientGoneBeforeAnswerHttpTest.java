package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client that leaves while the upstream still works on a non-streamed answer (an SDK timing out on a long
 * reasoning completion), on Tomcat and on Jetty: what the proxy can know of it, and what it gives back. Over
 * HTTP/2 the client's reset of its stream reaches the container at once, and the upstream call is cancelled as
 * for a stream. Over HTTP/1.1 neither container watches a connection whose request body has been read (nothing
 * reads it until the answer is written, and the Servlet API has no close notification), so the call runs until
 * the upstream answers, holding its limit lease; {@code response-timeout} is what bounds it. The README's
 * "Streaming" section says so: these tests keep it true. Over HTTP/2 the upstream call is aborted before the proxy
 * accounts for it, also for a streamed answer reset mid-way.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ClientGoneBeforeAnswerHttpTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    /** A completion the upstream works on until the test lets it answer (or the proxy leaves). */
    private static final String SLOW = chat("think for a long time");
    /** A completion the upstream answers at once. */
    private static final String QUICK = chat("quick");

    /** A streamed completion the upstream streams until the proxy leaves. */
    private static final String STREAMED =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"count\"}]}";

    private static final String EVENT = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":"
            + "[{\"index\":0,\"delta\":{\"content\":\"tick \"},\"finish_reason\":null}]}\n\n";

    private static final byte[] COMPLETION =
            ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
                            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"42\"},"
                            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,"
                            + "\"total_tokens\":12}}")
                    .getBytes(StandardCharsets.UTF_8);

    private final CountDownLatch answerSlow = new CountDownLatch(1);
    private final InMemoryUsageLedger ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
    /** Run on the thread that records a row, before the ledger keeps it: a test looks at what had happened by then. */
    private volatile Consumer<UsageRecord> beforeRecord = row -> {};
    /** The upstream's side of the slow completion, once it has the request. */
    private volatile StubUpstream.Exchange slowCall;

    StubUpstream upstream;
    ProxyServer proxy;
    ProxyEngine engine;

    @AfterEach
    void stop() {
        answerSlow.countDown();
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    /** An event every 10 ms (for at most a minute) until the proxy closes the connection. */
    private void streamUntilTheProxyLeaves(StubUpstream.Exchange ex) throws Exception {
        slowCall = ex;
        ex.head(200, "Content-Type", "text/event-stream");
        for (int i = 0; i < 6000 && !ex.peerClosed(); i++) {
            try {
                ex.chunk(EVENT);
            } catch (IOException e) {
                return; // the proxy left while we wrote
            }
            Thread.sleep(10);
        }
    }

    private static String chat(String content) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    }

    /**
     * The proxy on {@code container} (HTTP/1.1, and HTTP/2 for clients that upgrade), with one concurrent request
     * per client and a ledger, in front of an upstream that answers a slow completion only when the test says so.
     */
    private void start(String container, Map<String, String> settings) {
        upstream = StubUpstream.start(ex -> {
            if (ex.request().bodyText().contains("\"stream\":true")) {
                streamUntilTheProxyLeaves(ex);
                return;
            }
            if (ex.request().bodyText().contains("think")) {
                slowCall = ex;
                if (!answerSlow.await(60, TimeUnit.SECONDS)) {
                    return;
                }
            }
            if (!ex.peerClosed()) {
                ex.respond(200, "application/json", COMPLETION);
            }
        });
        Map<String, String> all = new HashMap<>(settings);
        all.put("policies.anonymous.concurrent-requests", "1");
        ProxyConfig config = ProxySettings.from(all)
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        engine = ProxyEngine.builder(config)
                .usageLedger(row -> {
                    beforeRecord.accept(row);
                    ledger.record(row);
                })
                .build();
        proxy = container.equals("tomcat") ? TomcatProxy.servletWithH2c(engine) : JettyProxy.servletWithH2c(engine);
    }

    /**
     * Sends the slow completion and leaves: a raw socket closed 0.5 s after the upstream has the request, or an
     * HTTP client's request cancelled then ({@code http1}, {@code http2}: what an SDK's timeout does); returns the
     * upstream's side of the call. Not the client's own timeout: on a busy machine the proxy may take longer than it
     * to reach the upstream, and then rightly never calls it (the client is gone).
     */
    private StubUpstream.Exchange sendSlowAndLeave(String client) throws Exception {
        if (client.equals("socket")) {
            RawClient raw = RawClient.post(proxy.port(), "/v1/chat/completions", SLOW);
            StubUpstream.Exchange exchange = upstream.awaitExchange(WAIT);
            Thread.sleep(500);
            raw.close();
            return exchange;
        }
        HttpClient.Version version = client.equals("http2") ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1;
        // Not closed: HttpClient is AutoCloseable only from Java 21 on; the cancel drops the exchange itself.
        HttpClient sdk = HttpClient.newBuilder().version(version).build();
        if (version == HttpClient.Version.HTTP_2) {
            upgrade(sdk);
        }
        CompletableFuture<HttpResponse<String>> answer = sdk.sendAsync(
                HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(SLOW))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        StubUpstream.Exchange exchange = upstream.awaitExchange(WAIT);
        assertThat(answer).as("the slow completion was answered").isNotDone();
        answer.cancel(true); // resets the HTTP/2 stream, closes the HTTP/1.1 connection
        return exchange;
    }

    /** Upgrades {@code sdk}'s connection (h2c) with a request without a body; the proxy answers it itself (404). */
    private void upgrade(HttpClient sdk) throws Exception {
        HttpResponse<String> upgrade = sdk.send(
                HttpRequest.newBuilder(proxy.uri("/v1/no-such-route")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(upgrade.version()).isEqualTo(HttpClient.Version.HTTP_2);
    }

    /**
     * Waits until the slow call is over (no upstream call in flight, its ledger row written), then checks its
     * lease is back: the client's next request is served. Returns the slow call's ledger row.
     */
    private UsageRecord awaitGivenBack() throws InterruptedException {
        await("no upstream call in flight", () -> engine.upstreamCallsInFlight() == 0);
        await("the slow call's ledger row", () -> !ledger.rows().isEmpty());
        UsageRecord row = ledger.rows().get(0);
        HttpResponse<String> next = Http.postJson(proxy.uri("/v1/chat/completions"), QUICK);
        assertThat(next.statusCode()).as("the lease is back: " + next.body()).isEqualTo(200);
        return row;
    }

    /**
     * Whether the upstream connection of the slow call was closed when its client-gone row was recorded: the ledger
     * waits up to 2 s for it, on the thread that records the row. The abort can come meanwhile only if it came first
     * (from the thread that cancelled the call, before it settled it) or from another thread.
     */
    private CompletableFuture<Boolean> closedWhenTheRowOfAClientGoneIsRecorded() {
        CompletableFuture<Boolean> closed = new CompletableFuture<>();
        beforeRecord = row -> {
            StubUpstream.Exchange call = slowCall;
            if (row.outcome() == UsageRecord.Outcome.CLIENT_GONE && call != null) {
                try {
                    closed.complete(call.awaitPeerClosed(Duration.ofSeconds(2)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    closed.completeExceptionally(e);
                }
            }
        };
        return closed;
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("waited in vain for " + what);
            }
            Thread.sleep(20);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void overHttp2AClientThatCancelsHasItsUpstreamCallCancelledAtOnce(String container) throws Exception {
        start(container, Map.of());

        StubUpstream.Exchange slow = sendSlowAndLeave("http2");

        assertThat(slow.awaitPeerClosed(Duration.ofSeconds(3)))
                .as("the upstream connection closed when the client reset its stream")
                .isTrue();
        UsageRecord row = awaitGivenBack();
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
        assertThat(row.usage().inputTokens()).as("charged its input, estimated").isPositive();
        assertThat(row.usage().outputTokens()).isZero();
    }

    /**
     * The upstream call is aborted before the proxy accounts for it. Settling a call (counting its prompt's tokens,
     * the first count of a JVM loading the tokenizer: seconds on a busy machine; the observers; the ledger) runs on
     * the thread that cancelled it, and the upstream would work on, and bill, meanwhile. Here the ledger waits, when
     * it gets the call's row, for the upstream connection to close: it closes by then only if the abort came first.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void overHttp2TheUpstreamCallIsAbortedBeforeItIsAccountedFor(String container) throws Exception {
        CompletableFuture<Boolean> closedWhenRecorded = closedWhenTheRowOfAClientGoneIsRecorded();
        start(container, Map.of());

        sendSlowAndLeave("http2");

        assertThat(closedWhenRecorded.get(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                .as("the upstream connection was closed when the call's row was recorded")
                .isTrue();
        assertThat(awaitGivenBack().outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
    }

    /**
     * The same for a streamed answer: the client resets its HTTP/2 stream after the first event while the upstream
     * streams on, and the upstream call is aborted before the proxy accounts for it.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void overHttp2AStreamResetMidwayIsAbortedUpstreamBeforeItIsAccountedFor(String container) throws Exception {
        CompletableFuture<Boolean> closedWhenRecorded = closedWhenTheRowOfAClientGoneIsRecorded();
        start(container, Map.of());
        HttpClient sdk =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        upgrade(sdk);

        HttpResponse<InputStream> stream = sdk.send(
                HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(STREAMED))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(stream.statusCode()).isEqualTo(200);
        BufferedReader events = new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8));
        assertThat(events.readLine()).startsWith("data: ");
        events.close(); // resets the HTTP/2 stream; the upstream streams on

        assertThat(closedWhenRecorded.get(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                .as("the upstream connection was closed when the stream's row was recorded")
                .isTrue();
        assertThat(awaitGivenBack().outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
    }

    /**
     * Over HTTP/1.1 the proxy cannot tell the client left: the upstream works on, the lease stays held (the
     * client's next request is refused) until the upstream answers; then all is given back, and the ledger row
     * is the upstream's real usage, completed (the proxy's write of the answer met no error).
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"tomcat, socket", "tomcat, http1", "jetty, socket", "jetty, http1"})
    void overHttp1AClientThatLeftIsFoundOutOnlyWhenTheUpstreamAnswers(String container, String client)
            throws Exception {
        start(container, Map.of());

        StubUpstream.Exchange slow = sendSlowAndLeave(client);

        assertThat(slow.awaitPeerClosed(Duration.ofSeconds(2)))
                .as("the container reported the client gone: the README's Streaming section is out of date")
                .isFalse();
        assertThat(engine.upstreamCallsInFlight()).isEqualTo(1);
        assertOpenAiError(
                Http.postJson(proxy.uri("/v1/chat/completions"), QUICK), 429, "requests", "rate_limit_exceeded");

        answerSlow.countDown();

        UsageRecord row = awaitGivenBack();
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
        assertThat(row.usage().outputTokens()).isEqualTo(7);
    }

    /** What bounds such a call over HTTP/1.1: {@code response-timeout}, after which all is given back. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void theResponseTimeoutEndsTheCallOfAClientThatLeft(String container) throws Exception {
        start(container, Map.of("response-timeout", "2s"));
        long sent = System.nanoTime();

        StubUpstream.Exchange slow = sendSlowAndLeave("socket");

        assertThat(slow.awaitPeerClosed(WAIT))
                .as("the proxy closed the upstream connection at its response timeout")
                .isTrue();
        assertThat(Duration.ofNanos(slow.peerClosedAt() - sent)).isBetween(Duration.ofMillis(1900), WAIT);
        UsageRecord row = awaitGivenBack();
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
        assertThat(row.proxyStatus()).isEqualTo(504);
    }
}
