package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.chatStreamEvents;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The caps on upstream calls in flight: over a client address's cap a request is answered 429 at once,
 * over the proxy's 503, both with {@code Retry-After} and without reaching the upstream. A stream holds
 * its call until its last event, and every way a call ends gives it back.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UpstreamConcurrencyLimitTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String STREAM_REQUEST =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final List<String> EVENTS = chatStreamEvents("Hi");

    final AtomicInteger upstreamCalls = new AtomicInteger();
    final CountDownLatch finishStreams = new CountDownLatch(1);
    StubUpstream upstream;
    ProxyServer proxy;
    Supplier<ProxyEngine> engine;

    @AfterEach
    void stop() {
        finishStreams.countDown();
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    private void start(int total, int perClient) {
        start(total, perClient, false, true);
    }

    /**
     * An upstream that streams its first event, then the rest once the test says so (or the proxy drops
     * the connection), with {@code ping} a comment every 50 ms meanwhile (the proxy learns of a client gone
     * only when it writes); and answers non-streamed chats at once.
     */
    private void start(int total, int perClient, boolean ping, boolean tomcat) {
        upstream = StubUpstream.start(ex -> {
            upstreamCalls.incrementAndGet();
            if (!ex.request().bodyText().contains("\"stream\":true")) {
                ex.respond(200, "application/json", "{\"ok\":true}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return;
            }
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(EVENTS.get(0));
            while (!finishStreams.await(50, TimeUnit.MILLISECONDS)) {
                if (ex.peerClosed()) {
                    return;
                }
                if (ping) {
                    ex.chunk(": ping\n\n");
                }
            }
            for (String e : EVENTS.subList(1, EVENTS.size())) {
                ex.chunk(e);
            }
            ex.endChunks();
        });
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .maxConcurrentUpstreamCalls(total)
                .maxConcurrentUpstreamCallsPerClient(perClient)
                .build();
        if (tomcat) {
            TomcatProxy t = TomcatProxy.servlet(config);
            proxy = t;
            engine = t::engine;
        } else {
            JettyProxy j = JettyProxy.servlet(config, "/*");
            proxy = j;
            engine = j::engine;
        }
    }

    /** A stream from this client, read up to its first event: it now holds an upstream call. */
    private RawClient heldStream() throws Exception {
        RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST);
        assertThat(c.readHead()).isEqualTo(200);
        assertThat(c.readEvent()).isEqualTo(EVENTS.get(0));
        return c;
    }

    @Test
    void aSecondCallFromTheSameAddressIs429UntilTheFirstStreamEnds() throws Exception {
        start(0, 1);
        try (RawClient first = heldStream()) {
            HttpResponse<String> v1 = Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
            assertOpenAiError(v1, 429, "requests", "rate_limit_exceeded");
            assertThat(v1.headers().firstValue("Retry-After")).contains("1");

            HttpResponse<String> simple = Http.postJson(proxy.uri("/"), CHAT);
            assertSeedError(simple, 429, "Too Many Requests");
            assertThat(simple.headers().firstValue("Retry-After")).contains("1");
            assertThat(upstreamCalls).as("calls that reached the upstream").hasValue(1);

            finishStreams.countDown();
            for (String e : EVENTS.subList(1, EVENTS.size())) {
                assertThat(first.readEvent()).isEqualTo(e);
            }
            assertThat(first.readChunk()).as("the first stream is complete").isNull();
        }

        HttpResponse<String> next = Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
        assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
        assertThat(upstreamCalls).hasValue(2);
        assertThat(engine.get().upstreamCallsInFlight()).isZero();
    }

    @Test
    void overTheTotalCapIs503() throws Exception {
        start(1, 0);
        try (RawClient first = heldStream()) {
            HttpResponse<String> v1 = Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
            assertOpenAiError(v1, 503, "server_error", "server_overloaded");
            assertThat(v1.headers().firstValue("Retry-After")).contains("1");
            assertSeedError(Http.postJson(proxy.uri("/"), CHAT), 503, "Service Unavailable");
            assertThat(upstreamCalls).hasValue(1);
        }
    }

    /** On both containers: a fresh connection after aborted streams must get its whole answer. */
    @ParameterizedTest(name = "tomcat={0}")
    @ValueSource(booleans = {true, false})
    void streamsTheClientAbortsGiveTheirCallsBack(boolean tomcat) throws Exception {
        start(0, 1, true, tomcat);
        for (int i = 0; i < 5; i++) {
            RawClient c = heldStream();
            StubUpstream.Exchange exchange = upstream.awaitExchange(WAIT);
            c.close();
            assertThat(exchange.awaitPeerClosed(WAIT)).isTrue();
        }
        // The permit is given back before the upstream call is aborted, so it is back by now: exactly.
        assertThat(engine.get().upstreamCallsInFlight()).isZero();

        HttpResponse<String> next = Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
        assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
        assertThat(upstreamCalls).hasValue(6);
        assertThat(engine.get().upstreamCallsInFlight()).isZero();
    }

    @Test
    void aCallThatFailsGivesItsPermitBack() {
        start(0, 1);
        upstream.close(); // nothing listens any more: every call fails with 502
        upstream = null;
        for (int i = 0; i < 3; i++) {
            assertOpenAiError(
                    Http.postJson(proxy.uri("/v1/chat/completions"), CHAT),
                    502,
                    "server_error",
                    "upstream_unreachable");
        }
        assertThat(engine.get().upstreamCallsInFlight()).isZero();
    }
}
