package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.servlet.support.StubUpstream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client that goes away stops the GraphQL execution and the upstream calls it is making.
 *
 * <p>Over HTTP/2 the container reports a client that abandons its request (RST_STREAM) at once, and
 * the servlet adapter cancels the engine's answer; the first test goes through Tomcat so. Over HTTP/1.1
 * neither Tomcat nor Jetty report a client that closes while an async request waits with nothing to write
 * (they watch the socket only while reading the body or writing; see ClientDisconnectTest of the servlet
 * adapter), so the other tests cancel the engine's answer as the adapter does. The upstream is real in
 * all: a stub on a socket that sees the proxy drop the connection.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GraphQlCancellationTest {
    private static final Duration GENEROUS = Duration.ofSeconds(10);
    private static final String INPUT = "(input: {messages: [{role: \\\"user\\\", content: \\\"hi\\\"}]})";
    private static final String TWO_CHATS = "{\"query\":\"mutation { a: getAIResponse" + INPUT + " { content }"
            + " b: getAIResponse" + INPUT + " { content } }\"}";

    private final AtomicInteger upstreamCalls = new AtomicInteger();
    private StubUpstream upstream;
    private ProxyEngine engine;
    private GraphQlServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (engine != null) {
            engine.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    private void start(StubUpstream.Handler handler, ProxyObserver observer) {
        upstream = StubUpstream.start(ex -> {
            upstreamCalls.incrementAndGet();
            handler.handle(ex);
        });
        ProxyConfig config = GraphQlServer.config(upstream.baseUrl()).build();
        engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS.withMaxUpstreamCalls(2)))
                .observer(observer)
                .build();
    }

    private CompletableFuture<ProxyResponse> post(String body) {
        return engine.handle(ProxyRequest.builder("POST", "/graphql")
                .header("Content-Type", "application/json")
                .body(body.getBytes(StandardCharsets.UTF_8))
                .build());
    }

    @Test
    void aClientAbandoningItsRequestOverHttp2AbortsTheRunningCallAndMakesNoOther() throws Exception {
        upstream = StubUpstream.start(ex -> {
            upstreamCalls.incrementAndGet();
            ex.awaitPeerClosed(Duration.ofSeconds(60));
        });
        server = GraphQlServer.startWithH2c(
                GraphQlServer.config(upstream.baseUrl()).build(), GraphQlOptions.DEFAULTS.withMaxUpstreamCalls(2));
        HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_2)
                .connectTimeout(GENEROUS)
                .build();
        // The first request upgrades the connection to h2c; the mutation then runs on it as a stream.
        HttpResponse<String> upgrade = http.send(
                HttpRequest.newBuilder(server.uri("/graphql?query=%7B__typename%7D"))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(upgrade.version()).isEqualTo(HttpClient.Version.HTTP_2);
        CompletableFuture<HttpResponse<String>> answer = http.sendAsync(
                HttpRequest.newBuilder(server.uri("/graphql"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(TWO_CHATS))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        StubUpstream.Exchange first = upstream.awaitExchange(GENEROUS);

        long cancelledAt = System.nanoTime();
        answer.cancel(true); // the client resets the stream

        assertThat(first.awaitPeerClosed(GENEROUS))
                .as("the proxy closed the upstream connection of the running call")
                .isTrue();
        System.out.println("upstream closed " + (first.peerClosedAt() - cancelledAt) / 1_000_000 + " ms after the"
                + " client reset its stream");
        assertThat(upstreamCalls).as("the second field was never fetched").hasValue(1);
    }

    @Test
    void theClientGoingAwayAbortsTheRunningCallAndMakesNoOther() throws Exception {
        start(ex -> ex.awaitPeerClosed(Duration.ofSeconds(60)), ProxyObserver.NONE);
        CompletableFuture<ProxyResponse> answer = post(TWO_CHATS);
        StubUpstream.Exchange first = upstream.awaitExchange(GENEROUS);
        assertThat(answer).isNotDone();

        long cancelledAt = System.nanoTime();
        answer.cancel(false); // as the servlet adapter does when the container reports the client gone

        assertThat(first.awaitPeerClosed(GENEROUS))
                .as("the proxy closed the upstream connection of the running call")
                .isTrue();
        System.out.println("upstream closed " + (first.peerClosedAt() - cancelledAt) / 1_000_000 + " ms after the"
                + " client left");
        // The cancelled call completes the first field at once, on this thread: the second is decided by now.
        assertThat(upstreamCalls).as("the second field was never fetched").hasValue(1);
    }

    @Test
    void theClientGoingAwayWhileAnAnswerIsReadClosesItsUpstreamConnection() throws Exception {
        // The upstream sends its headers and the start of a long body (more than the engine reads ahead before
        // it answers), then waits.
        CountDownLatch answering = new CountDownLatch(1);
        start(
                ex -> {
                    ex.head(200, "Content-Type", "application/json", "Content-Length", "1000000");
                    ex.chunk("{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"content\":\"");
                    ex.chunk("a".repeat(300 * 1024));
                    ex.awaitPeerClosed(Duration.ofSeconds(60));
                },
                (method, path) -> path.equals("/")
                        ? new ProxyObserver.Observation() {
                            @Override
                            public void routed(String route, Optional<String> model) {
                                answering.countDown(); // the sub-request's answer is ready: its body is being read
                            }
                        }
                        : ProxyObserver.Observation.NONE);
        CompletableFuture<ProxyResponse> answer = post(TWO_CHATS);
        StubUpstream.Exchange first = upstream.awaitExchange(GENEROUS);
        assertThat(answering.await(GENEROUS.toSeconds(), TimeUnit.SECONDS)).isTrue();
        assertThat(answer).isNotDone();

        answer.cancel(false);

        assertThat(first.awaitPeerClosed(GENEROUS))
                .as("the proxy stopped reading the answer and closed the upstream connection")
                .isTrue();
        assertThat(upstreamCalls).as("the second field was never fetched").hasValue(1);
    }
}
