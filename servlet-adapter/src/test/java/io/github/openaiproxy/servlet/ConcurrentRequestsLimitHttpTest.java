package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.chatStreamEvents;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A policy's {@code concurrent-requests} over real HTTP: open streams hold their leases, a request over the
 * limit is 429 {@code rate_limit_exceeded} without reaching the upstream, and a lease is back once its stream
 * ends or its client goes away.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConcurrentRequestsLimitHttpTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String STREAM_REQUEST =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final List<String> EVENTS = chatStreamEvents("Hi");

    final AtomicInteger upstreamCalls = new AtomicInteger();
    final CountDownLatch finishStreams = new CountDownLatch(1);
    StubUpstream upstream;
    TomcatProxy proxy;

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

    /** An upstream whose streams send their first event, then ping until the test ends them or the proxy leaves. */
    private void start() {
        upstream = StubUpstream.start(ex -> {
            upstreamCalls.incrementAndGet();
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(EVENTS.get(0));
            while (!finishStreams.await(50, TimeUnit.MILLISECONDS)) {
                if (ex.peerClosed()) {
                    return;
                }
                ex.chunk(": ping\n\n");
            }
            for (String e : EVENTS.subList(1, EVENTS.size())) {
                ex.chunk(e);
            }
            ex.endChunks();
        });
        ProxyConfig config = ProxySettings.from(Map.of(
                        "policies.anonymous.concurrent-requests", "2",
                        // the transport's own per-client cap stays out of the way
                        "limits.max-concurrent-upstream-calls-per-client", "0"))
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        proxy = TomcatProxy.servlet(config);
    }

    private RawClient heldStream() throws Exception {
        RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST);
        assertThat(c.readHead()).isEqualTo(200);
        assertThat(c.readEvent()).isEqualTo(EVENTS.get(0));
        return c;
    }

    /**
     * A held stream once a lease is free. The proxy aborts a gone client's upstream call before it settles the call
     * (and gives its lease back), so the upstream sees its connection closed a moment before the lease is back.
     */
    private RawClient heldStreamOnceALeaseIsBack() throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST);
            int status = c.readHead();
            if (status == 200) {
                assertThat(c.readEvent()).isEqualTo(EVENTS.get(0));
                return c;
            }
            c.close();
            assertThat(status).as("refused while the lease is held").isEqualTo(429);
            assertThat(System.nanoTime() - deadline).as("the lease came back").isNegative();
            Thread.sleep(20);
        }
    }

    /** The next event that is not the upstream's keep-alive comment. */
    private static String eventAfterPings(RawClient c) throws Exception {
        String e = c.readEvent();
        while (e != null && e.startsWith(": ping")) {
            e = c.readEvent();
        }
        return e;
    }

    @Test
    void twoOpenStreamsHoldTheLimitUntilOneEndsOrItsClientGoes() throws Exception {
        start();
        RawClient first = heldStream();
        RawClient second = heldStream();
        StubUpstream.Exchange secondExchange = null;
        for (int i = 0; i < 2; i++) {
            secondExchange = upstream.awaitExchange(WAIT);
        }

        HttpResponse<String> third = Http.postJson(proxy.uri("/v1/chat/completions"), STREAM_REQUEST);
        assertOpenAiError(third, 429, "requests", "rate_limit_exceeded");
        assertThat(third.headers().firstValue("Retry-After")).contains("1");
        assertThat(upstreamCalls).as("calls that reached the upstream").hasValue(2);

        // The second client goes away: its lease is back once the proxy has let go of the upstream.
        second.close();
        assertThat(secondExchange.awaitPeerClosed(WAIT)).isTrue();
        RawClient fourth = heldStreamOnceALeaseIsBack();
        assertOpenAiError(
                Http.postJson(proxy.uri("/v1/chat/completions"), STREAM_REQUEST),
                429,
                "requests",
                "rate_limit_exceeded");

        // The streams end: both leases are back.
        finishStreams.countDown();
        for (RawClient c : List.of(first, fourth)) {
            for (String e : EVENTS.subList(1, EVENTS.size())) {
                assertThat(eventAfterPings(c)).isEqualTo(e);
            }
            assertThat(c.readChunk()).isNull();
            c.close();
        }
        HttpResponse<String> next = Http.postJson(proxy.uri("/v1/chat/completions"), STREAM_REQUEST);
        assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
        assertThat(upstreamCalls).hasValue(4);
    }
}
