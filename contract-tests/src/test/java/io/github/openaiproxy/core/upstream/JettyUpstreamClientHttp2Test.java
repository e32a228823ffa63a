package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.openaiproxy.testsupport.BodyReader;
import io.github.openaiproxy.testsupport.H2cUpstream;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code upstream-http-version=2} with Jetty's client, against an upstream that speaks only HTTP/2 (h2c): calls
 * go over HTTP/2, share one connection, stream event by event, and a cancelled call resets only its own stream.
 */
class JettyUpstreamClientHttp2Test {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private H2cUpstream upstream;
    private UpstreamClient client;

    @BeforeEach
    void start() throws Exception {
        upstream = H2cUpstream.start();
        client = UpstreamClient.jetty(UpstreamConfig.defaults()
                .withBaseUrl(upstream.baseUrl())
                .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2));
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        upstream.close();
    }

    private UpstreamRequest post(String pathAndQuery, String body) {
        HttpHeaders headers = HttpHeaders.of(
                Map.of("authorization", List.of("Bearer sk-test"), "content-type", List.of("application/json")),
                (n, v) -> true);
        return new UpstreamRequest(
                "POST", URI.create(upstream.baseUrl() + pathAndQuery), headers, body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aCompletionGoesOverHttp2WithItsHeadersAndBody() throws Exception {
        UpstreamResponse response = client.send(post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\"}"))
                .get(WAIT.toSeconds(), TimeUnit.SECONDS);

        assertThat(response.status()).isEqualTo(200);
        assertThat(response.headers().firstValue("x-request-id")).hasValue("req_h2c");
        assertThat(BodyReader.read(response.body()).text()).isEqualTo(H2cUpstream.COMPLETION);
        H2cUpstream.Seen seen = upstream.seen().get(0);
        assertThat(seen.protocol()).isEqualTo("HTTP/2.0");
        assertThat(seen.headers()).containsEntry("authorization", "Bearer sk-test");
        assertThat(seen.body()).isEqualTo("{\"model\":\"gpt-4o-mini\"}");
    }

    @Test
    void aStreamArrivesEventByEventNotWhole() throws Exception {
        UpstreamResponse response = client.send(post("/v1/chat/completions?events=3&gate=true", "{\"stream\":true}"))
                .get(WAIT.toSeconds(), TimeUnit.SECONDS);
        TestSubscriber events = new TestSubscriber(Long.MAX_VALUE);
        response.body().subscribe(events);

        // The second event waits for the gate: the first must have arrived without it.
        await().atMost(WAIT).until(() -> String.join("", events.texts()).contains(H2cUpstream.chunk(0)));
        assertThat(String.join("", events.texts())).doesNotContain(H2cUpstream.chunk(1));
        upstream.openGate();
        events.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(String.join("", events.texts()))
                .isEqualTo(H2cUpstream.chunk(0) + H2cUpstream.chunk(1) + H2cUpstream.chunk(2) + "data: [DONE]\n\n");
    }

    @Test
    void concurrentCallsShareOneConnection() throws Exception {
        // The first call learns the server's stream limit; the next fifty go at once.
        BodyReader.read(client.send(post("/v1/chat/completions", "{}"))
                .get(WAIT.toSeconds(), TimeUnit.SECONDS)
                .body());
        List<CompletableFuture<BodyReader.Body>> calls = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            calls.add(client.send(post("/v1/chat/completions?events=5&pause_ms=20", "{\"stream\":true}"))
                    .thenCompose(r -> BodyReader.collect(r.body())));
        }
        for (CompletableFuture<BodyReader.Body> call : calls) {
            assertThat(call.get(WAIT.toSeconds(), TimeUnit.SECONDS).text()).endsWith("data: [DONE]\n\n");
        }
        assertThat(upstream.seen()).hasSize(51);
        assertThat(upstream.seen().stream().map(H2cUpstream.Seen::connection).distinct())
                .hasSize(1);
    }

    @Test
    void aGracefulGoAwayLetsTheStreamInFlightFinishAndSendsNewCallsToANewConnection() throws Exception {
        UpstreamResponse response = client.send(
                        post("/v1/chat/completions?events=3&gate=true&goaway=graceful", "{\"stream\":true}"))
                .get(WAIT.toSeconds(), TimeUnit.SECONDS);
        TestSubscriber events = new TestSubscriber(Long.MAX_VALUE);
        response.body().subscribe(events);
        // The GOAWAY follows the first event on the same connection: in once the event is.
        await().atMost(WAIT).until(() -> String.join("", events.texts()).contains(H2cUpstream.chunk(0)));
        Thread.sleep(200);

        UpstreamResponse next = client.send(post("/v1/chat/completions", "{}")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(BodyReader.read(next.body()).text()).isEqualTo(H2cUpstream.COMPLETION);
        upstream.openGate();

        events.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(events.error()).isNull();
        assertThat(String.join("", events.texts()))
                .isEqualTo(H2cUpstream.chunk(0) + H2cUpstream.chunk(1) + H2cUpstream.chunk(2) + "data: [DONE]\n\n");
        assertThat(upstream.seen()).hasSize(2);
        assertThat(upstream.seen().get(1).connection())
                .isNotEqualTo(upstream.seen().get(0).connection());
    }

    @Test
    void aBurstOpensTheConnectionsItNeedsNotOneACall() throws Exception {
        // Ten streams a connection: a hundred open streams need ten connections, and a call arriving while one is
        // being opened must wait for it, not open one of its own.
        try (H2cUpstream small = H2cUpstream.start(10)) {
            UpstreamClient c = UpstreamClient.jetty(UpstreamConfig.defaults()
                    .withBaseUrl(small.baseUrl())
                    .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2));
            try {
                List<CompletableFuture<BodyReader.Body>> calls = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    HttpHeaders headers = HttpHeaders.of(Map.of(), (n, v) -> true);
                    calls.add(c.send(new UpstreamRequest(
                                    "POST",
                                    URI.create(small.baseUrl() + "/v1/chat/completions?events=2&gate=true"),
                                    headers,
                                    "{\"stream\":true}".getBytes(StandardCharsets.UTF_8)))
                            .thenCompose(r -> BodyReader.collect(r.body())));
                }
                await().atMost(WAIT).until(() -> small.seen().size() == 100);
                long connections = small.seen().stream()
                        .map(H2cUpstream.Seen::connection)
                        .distinct()
                        .count();
                small.openGate();
                for (CompletableFuture<BodyReader.Body> call : calls) {
                    assertThat(call.get(WAIT.toSeconds(), TimeUnit.SECONDS).text())
                            .endsWith("data: [DONE]\n\n");
                }
                assertThat(connections).isEqualTo(10);
            } finally {
                c.close();
            }
        }
    }

    @Test
    void aCancelledStreamIsResetAndItsNeighbourOnTheConnectionGoesOn() throws Exception {
        UpstreamResponse cancelled = client.send(
                        post("/v1/chat/completions?events=2000&pause_ms=10&which=cancelled", "{\"stream\":true}"))
                .get(WAIT.toSeconds(), TimeUnit.SECONDS);
        CompletableFuture<BodyReader.Body> neighbour = client.send(
                        post("/v1/chat/completions?events=100&pause_ms=10&which=neighbour", "{\"stream\":true}"))
                .thenCompose(r -> BodyReader.collect(r.body()));
        TestSubscriber events = new TestSubscriber(Long.MAX_VALUE);
        cancelled.body().subscribe(events);
        await().atMost(WAIT).until(() -> !events.texts().isEmpty());

        events.cancel();

        await().atMost(WAIT).until(() -> !upstream.brokenStreams().isEmpty());
        assertThat(upstream.brokenStreams()).singleElement().asString().contains("which=cancelled");
        assertThat(neighbour.get(WAIT.toSeconds(), TimeUnit.SECONDS).text()).endsWith("data: [DONE]\n\n");
        assertThat(upstream.seen().stream().map(H2cUpstream.Seen::connection).distinct())
                .hasSize(1);
    }

    @Test
    void aStreamSilentForLongerThanThePooledIdleTimeIsNotCut() throws Exception {
        // Over HTTP/1.1 a running exchange has no idle limit (JettyUpstreamClientTest); over HTTP/2 Jetty closes a
        // silent connection with its streams, so the pooled idle time must not be the connection's.
        Duration pooledIdle = Duration.ofMillis(300);
        try (UpstreamClient c = JettyUpstreamClient.create(
                UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2),
                pooledIdle)) {
            CompletableFuture<BodyReader.Body> call = c.send(
                            post("/v1/chat/completions?events=2&gate=true", "{\"stream\":true}"))
                    .thenCompose(r -> BodyReader.collect(r.body()));
            await().atMost(WAIT).until(() -> upstream.seen().size() == 1);
            Thread.sleep(pooledIdle.multipliedBy(5).toMillis());
            upstream.openGate();

            assertThat(call.get(WAIT.toSeconds(), TimeUnit.SECONDS).text())
                    .isEqualTo(H2cUpstream.chunk(0) + H2cUpstream.chunk(1) + "data: [DONE]\n\n");
        }
    }

    @Test
    void aConnectionClosedForSilenceEndsItsStreamAsAnIdleTimeoutNotAConnectTimeout() throws Exception {
        // The proxy's waits as short as the pooled idle time: the connection's own idle timeout then fires with
        // the stream open on it, as soon as the proxy's stream-idle timer would.
        Duration waits = Duration.ofSeconds(1);
        try (UpstreamClient c = JettyUpstreamClient.create(
                UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2)
                        .withResponseTimeout(waits)
                        .withStreamIdleTimeout(waits),
                waits)) {
            // Connected and warm first, so that the stream's headers come well within the headers' timeout.
            BodyReader.read(c.send(post("/v1/chat/completions", "{}"))
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS)
                    .body());
            UpstreamResponse response = c.send(post("/v1/chat/completions?events=2&gate=true", "{\"stream\":true}"))
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS);
            TestSubscriber events = new TestSubscriber(Long.MAX_VALUE);
            response.body().subscribe(events);
            events.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
            upstream.openGate();

            assertThat(String.join("", events.texts())).isEqualTo(H2cUpstream.chunk(0));
            assertThat(events.error()).isInstanceOf(UpstreamFailure.class);
            UpstreamFailure failure = (UpstreamFailure) events.error();
            assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.TIMEOUT);
            assertThat(failure.getMessage()).isEqualTo(UpstreamFailure.IDLE);
        }
    }

    @Test
    void anUnusedConnectionIsClosedOnceTheProxysOwnWaitsAreOver() throws Exception {
        Duration waits = Duration.ofMillis(600);
        try (UpstreamClient c = JettyUpstreamClient.create(
                UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2)
                        .withResponseTimeout(waits)
                        .withStreamIdleTimeout(waits),
                Duration.ofMillis(100))) {
            BodyReader.read(c.send(post("/v1/chat/completions", "{}"))
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS)
                    .body());
            Thread.sleep(waits.multipliedBy(4).toMillis());
            BodyReader.read(c.send(post("/v1/chat/completions", "{}"))
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS)
                    .body());

            assertThat(upstream.seen().stream()
                            .map(H2cUpstream.Seen::connection)
                            .distinct())
                    .hasSize(2);
        }
    }

    @Test
    void aBodyLargerThanTheStreamWindowArrivesWhole() throws Exception {
        int size = 5 * JettyHttp2.STREAM_WINDOW + 123;
        UpstreamResponse response =
                client.send(post("/v1/files?bytes=" + size, "{}")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        // Read a piece at a time: the window is given back only as the relay consumes.
        TestSubscriber reader = new TestSubscriber(1);
        response.body().subscribe(reader);
        int read = 0;
        while (true) {
            int before = read;
            await().atMost(WAIT)
                    .pollDelay(Duration.ZERO)
                    .pollInterval(Duration.ofMillis(1))
                    .until(() -> reader.isCompleted()
                            || reader.error() != null
                            || reader.items().size() > before);
            if (reader.isCompleted() || reader.error() != null) {
                break;
            }
            read = reader.items().size();
            reader.request(1);
        }
        assertThat(reader.error()).isNull();
        long received = reader.items().stream().mapToLong(b -> b.length).sum();
        assertThat(received).isEqualTo(size);
    }

    @Test
    void streamsNobodyReadsDoNotHoldUpTheirNeighboursOnTheConnection() throws Exception {
        BodyReader.read(client.send(post("/v1/chat/completions", "{}"))
                .get(WAIT.toSeconds(), TimeUnit.SECONDS)
                .body());
        // Twenty clients that read nothing, each left a full stream window: more than Jetty's 16 MiB connection window.
        List<TestSubscriber> stalled = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            UpstreamResponse r = client.send(post("/v1/files?bytes=" + 2 * JettyHttp2.STREAM_WINDOW + "&i=" + i, "{}"))
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS);
            TestSubscriber idle = new TestSubscriber(0);
            r.body().subscribe(idle);
            stalled.add(idle);
        }
        await().atMost(WAIT).until(() -> upstream.bodyBytesWritten() >= 15L * JettyHttp2.STREAM_WINDOW);
        Thread.sleep(500); // the rest of what the windows let through

        try {
            CompletableFuture<BodyReader.Body> neighbour = client.send(
                            post("/v1/chat/completions?events=3", "{\"stream\":true}"))
                    .thenCompose(r -> BodyReader.collect(r.body()));
            assertThat(neighbour.get(WAIT.toSeconds(), TimeUnit.SECONDS).text()).endsWith("data: [DONE]\n\n");
            assertThat(upstream.seen().stream()
                            .map(H2cUpstream.Seen::connection)
                            .distinct())
                    .hasSize(1);
        } finally {
            stalled.forEach(TestSubscriber::cancel);
        }
    }

    @Test
    void aBodyNobodyReadsHoldsNoMoreThanTheStreamWindow() throws Exception {
        int size = 8 * JettyHttp2.STREAM_WINDOW;
        UpstreamResponse response =
                client.send(post("/v1/files?bytes=" + size, "{}")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        TestSubscriber idle = new TestSubscriber(0);
        response.body().subscribe(idle);

        // Over HTTP/2 what the client has not read waits on the proxy's heap: flow control must stop the upstream.
        await().atMost(WAIT).until(() -> upstream.bodyBytesWritten() > JettyHttp2.STREAM_WINDOW / 2);
        Thread.sleep(500); // what flow control would not stop would arrive now
        assertThat(upstream.bodyBytesWritten()).isLessThanOrEqualTo(JettyHttp2.STREAM_WINDOW + 256 * 1024);
        idle.cancel();
    }
}
