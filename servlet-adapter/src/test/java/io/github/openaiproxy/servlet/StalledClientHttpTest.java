package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client that stops reading a stream whose upstream writes as fast as it can: on both containers the
 * proxy stops reading the upstream once the sockets are full (backpressure, no growing buffer), and when
 * that client then vanishes, while the proxy waits for its socket to take more, the upstream call is still
 * cancelled: nothing is written then, so only the container's notice of the broken connection can end it. Its
 * ledger row says the client left mid-stream.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class StalledClientHttpTest {
    private static final Duration GENEROUS = Duration.ofSeconds(10);
    private static final String STREAM_BODY =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"count\"}]}";
    private static final byte[] EVENT =
            ("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":"
                            + "[{\"index\":0,\"delta\":{\"content\":\"" + "x".repeat(900)
                            + "\"},\"finish_reason\":null}]}\n\n")
                    .getBytes(StandardCharsets.US_ASCII);

    private final InMemoryUsageLedger ledger = new InMemoryUsageLedger(100, Duration.ofDays(1), Clock.systemUTC());
    StubUpstream upstream;
    ProxyServer proxy;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    /** An endless stream of 1 KB events, written as fast as the proxy takes them; counts what went. */
    private void startUpstream(AtomicLong written) {
        upstream = StubUpstream.start(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            while (!ex.peerClosed()) {
                ex.chunk(EVENT); // blocks once the proxy stops reading
                written.addAndGet(EVENT.length);
            }
        });
    }

    private ProxyEngine engine() {
        return ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                        .build())
                .usageLedger(ledger)
                .build();
    }

    private void assertOneClientGoneRow() throws InterruptedException {
        long rowDeadline = System.nanoTime() + GENEROUS.toNanos();
        while (ledger.rows().isEmpty() && System.nanoTime() < rowDeadline) {
            Thread.sleep(20);
        }
        assertThat(ledger.rows()).singleElement().satisfies(row -> {
            assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
            assertThat(row.streamed()).isTrue();
            assertThat(row.estimated())
                    .as("no usage chunk came: the charge is estimated")
                    .isTrue();
        });
    }

    /**
     * A client that takes nothing for longer than the container's connection (idle) timeout: the container
     * ends the connection, which for the proxy is a client gone, though it never closed it. The standalone
     * server's Tomcat waits 60 s; Spring Boot's and Jetty's own defaults differ.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void aClientThatTakesNothingPastTheContainersTimeoutLosesItsStream(String container) throws Exception {
        AtomicLong written = new AtomicLong();
        startUpstream(written);
        ProxyEngine engine = engine();
        Duration timeout = Duration.ofSeconds(2);
        proxy = container.equals("tomcat")
                ? TomcatProxy.servletWithConnectionTimeout(engine, timeout)
                : JettyProxy.servletWithIdleTimeout(engine, timeout);

        RawClient client = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_BODY);
        assertThat(client.readHead()).isEqualTo(200);
        assertThat(client.readEvent()).startsWith("data: {\"id\":\"chatcmpl-1\"");
        StubUpstream.Exchange exchange = upstream.awaitExchange(GENEROUS);
        long stalledAt = System.nanoTime();

        assertThat(exchange.awaitPeerClosed(Duration.ofSeconds(20)))
                .as("the container's timeout ended the stalled stream and the upstream call with it")
                .isTrue();
        System.out.println(container + ": upstream closed " + (exchange.peerClosedAt() - stalledAt) / 1_000_000
                + " ms after the client stopped reading (timeout " + timeout.toMillis() + " ms)");
        assertOneClientGoneRow();
        client.close();
    }

    /**
     * The other side of the container's timeout: an upstream silent for longer (a reasoning model thinking
     * before its next token) must not cost a client that waits its stream, since nothing is read or written
     * meanwhile on an async request.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void anUpstreamSilentPastTheContainersTimeoutKeepsItsWaitingClient(String container) throws Exception {
        upstream = StubUpstream.start(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(EVENT);
            Thread.sleep(2500); // two and a half times the container's timeout
            ex.chunk(EVENT);
            ex.chunk("data: [DONE]\n\n");
            ex.endChunks();
        });
        ProxyEngine engine = engine();
        Duration timeout = Duration.ofSeconds(1);
        proxy = container.equals("tomcat")
                ? TomcatProxy.servletWithConnectionTimeout(engine, timeout)
                : JettyProxy.servletWithIdleTimeout(engine, timeout);

        try (RawClient client = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_BODY)) {
            assertThat(client.readHead()).isEqualTo(200);
            assertThat(client.readEvent()).startsWith("data: {\"id\":\"chatcmpl-1\"");
            assertThat(client.readEvent()).startsWith("data: {\"id\":\"chatcmpl-1\"");
            assertThat(client.readEvent()).startsWith("data: [DONE]");
        }
    }

    @ParameterizedTest(name = "{0}, {1}")
    @ValueSource(strings = {"tomcat reset", "tomcat close", "jetty reset", "jetty close"})
    void aStalledClientStopsTheUpstreamReadAndItsLeavingCancelsTheCall(String variant) throws Exception {
        String container = variant.split(" ")[0];
        boolean reset = variant.endsWith("reset");
        AtomicLong written = new AtomicLong();
        startUpstream(written);
        ProxyEngine engine = engine();
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(engine) : JettyProxy.servletWithH2c(engine);

        RawClient client = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_BODY);
        assertThat(client.readHead()).isEqualTo(200);
        assertThat(client.readEvent()).startsWith("data: {\"id\":\"chatcmpl-1\"");
        StubUpstream.Exchange exchange = upstream.awaitExchange(GENEROUS);

        // The client reads no more: the upstream's writes must come to a stop, not fill the heap.
        long last = -1;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (written.get() != last && System.nanoTime() < deadline) {
            last = written.get();
            Thread.sleep(1000);
        }
        assertThat(written.get())
                .as("the upstream's writes stopped while the client read nothing")
                .isEqualTo(last);
        // Socket buffers on loopback (client, proxy both ways, stub) take a few MB; the heap must not.
        assertThat(last).as("bytes the upstream got rid of").isLessThan(64L << 20);
        System.out.println(variant + ": upstream stopped after " + (last >> 10) + " KiB");

        Thread.sleep(500);
        long closedAt = System.nanoTime();
        if (reset) {
            client.resetAndClose();
        } else {
            client.close();
        }

        assertThat(exchange.awaitPeerClosed(GENEROUS))
                .as("the proxy closed the upstream connection after the stalled client left")
                .isTrue();
        System.out.println(variant + ": upstream closed " + (exchange.peerClosedAt() - closedAt) / 1_000_000
                + " ms after the stalled client left");

        long rowDeadline = System.nanoTime() + GENEROUS.toNanos();
        while (ledger.rows().isEmpty() && System.nanoTime() < rowDeadline) {
            Thread.sleep(20);
        }
        assertThat(ledger.rows()).singleElement().satisfies(row -> {
            assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
            assertThat(row.streamed()).isTrue();
            assertThat(row.estimated())
                    .as("no usage chunk came: the charge is estimated")
                    .isTrue();
        });
    }
}
