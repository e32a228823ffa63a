package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client that goes away must not leave an upstream call running: the proxy closes the upstream
 * connection, whether the stream is flowing or the proxy is still waiting for the response headers.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClientDisconnectTest {
    private static final Duration GENEROUS = Duration.ofSeconds(10);
    private static final String STREAM_BODY =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"count\"}]}";

    StubUpstream upstream;
    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    private void startProxy(StubUpstream.Handler handler) {
        upstream = StubUpstream.start(handler);
        proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build());
    }

    /** An endless stream: one chunk event every 100 ms until the proxy drops the connection. */
    private static void endlessStream(StubUpstream.Exchange ex) throws Exception {
        ex.head(200, "Content-Type", "text/event-stream");
        for (int i = 0; i < 600 && !ex.peerClosed(); i++) {
            ex.chunk("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"content\":\"" + i + " \"},\"finish_reason\":null}]}\n\n");
            Thread.sleep(100);
        }
    }

    @Test
    void closingTheClientDuringAStreamClosesTheUpstreamConnection() throws Exception {
        startProxy(ClientDisconnectTest::endlessStream);
        RawClient client = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_BODY);
        assertThat(client.readHead()).isEqualTo(200);
        assertThat(client.readEvent()).startsWith("data: {\"id\":\"chatcmpl-1\"");
        StubUpstream.Exchange exchange = upstream.awaitExchange(GENEROUS);

        long closedAt = System.nanoTime();
        client.close();

        assertThat(exchange.awaitPeerClosed(GENEROUS))
                .as("the proxy closed the upstream connection after the client left")
                .isTrue();
        long millis = (exchange.peerClosedAt() - closedAt) / 1_000_000;
        System.out.println("upstream closed " + millis + " ms after the client (streaming)");
    }

    @Test
    void closingTheClientDuringALargeNonStreamedBodyClosesTheUpstreamConnection() throws Exception {
        // A 64 MiB JSON body, sent 64 KiB at a time for as long as the proxy keeps reading.
        byte[] piece = "A".repeat(64 * 1024).getBytes(StandardCharsets.US_ASCII);
        startProxy(ex -> {
            ex.head(200, "Content-Type", "application/json", "Content-Length", Integer.toString(1024 * piece.length));
            ex.chunk("{\"data\":[{\"b64_json\":\"".getBytes(StandardCharsets.US_ASCII));
            for (int i = 0; i < 1000 && !ex.peerClosed(); i++) {
                ex.chunk(piece);
                Thread.sleep(10);
            }
        });
        RawClient client = RawClient.post(
                proxy.port(), "/v1/images/generations", "{\"model\":\"gpt-image-1\",\"prompt\":\"An otter\"}");
        assertThat(client.readHead()).isEqualTo(200);
        assertThat(client.readBody(256 * 1024)).hasSize(256 * 1024);
        StubUpstream.Exchange exchange = upstream.awaitExchange(GENEROUS);

        long closedAt = System.nanoTime();
        client.close();

        assertThat(exchange.awaitPeerClosed(GENEROUS))
                .as("the proxy closed the upstream connection after the client left")
                .isTrue();
        long millis = (exchange.peerClosedAt() - closedAt) / 1_000_000;
        System.out.println("upstream closed " + millis + " ms after the client (large body)");
    }

    /**
     * The client leaves while the proxy waits for the upstream's response headers (a long non-streamed
     * completion). Tomcat does not watch an async request's connection once its body has been read
     * (it registers read interest only while body bytes are outstanding), so the adapter cannot learn of
     * the disconnect before it writes. What is guaranteed: as soon as the upstream starts answering, the
     * first writes fail and the upstream connection is dropped instead of being read to the end.
     */
    @Test
    void closingTheClientWhileWaitingForHeadersDropsTheUpstreamOnceItAnswers() throws Exception {
        CountDownLatch clientGone = new CountDownLatch(1);
        startProxy(ex -> {
            if (!clientGone.await(30, TimeUnit.SECONDS)) {
                throw new AssertionError("the test never closed its client");
            }
            endlessStream(ex);
        });
        RawClient client = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_BODY);
        StubUpstream.Exchange exchange = upstream.awaitExchange(GENEROUS);
        client.close();
        clientGone.countDown();
        long answeredAt = System.nanoTime();

        assertThat(exchange.awaitPeerClosed(GENEROUS))
                .as("the proxy closed the upstream connection once it found the client gone")
                .isTrue();
        long millis = (exchange.peerClosedAt() - answeredAt) / 1_000_000;
        System.out.println("upstream closed " + millis + " ms after it started answering an absent client");
    }

    /**
     * What the adapter does when the container does report a client gone before the headers (its
     * AsyncListener's onError or onTimeout): cancel the engine's answer. That must abort the upstream
     * exchange, not just forget it.
     */
    @Test
    void cancellingTheAnswerWhileWaitingForHeadersClosesTheUpstreamConnection() throws Exception {
        upstream = StubUpstream.start(ex -> ex.awaitPeerClosed(Duration.ofSeconds(60)));
        try (ProxyEngine engine = ProxyEngine.create(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build())) {
            CompletableFuture<ProxyResponse> answer = engine.handle(ProxyRequest.builder("POST", "/v1/chat/completions")
                    .header("Content-Type", "application/json")
                    .body(STREAM_BODY.getBytes(StandardCharsets.UTF_8))
                    .build());
            StubUpstream.Exchange exchange = upstream.awaitExchange(GENEROUS);
            assertThat(answer).isNotDone();

            long cancelledAt = System.nanoTime();
            answer.cancel(false);

            assertThat(exchange.awaitPeerClosed(GENEROUS))
                    .as("cancelling the answer closed the upstream connection")
                    .isTrue();
            long millis = (exchange.peerClosedAt() - cancelledAt) / 1_000_000;
            System.out.println("upstream closed " + millis + " ms after the answer was cancelled");
        }
    }
}
