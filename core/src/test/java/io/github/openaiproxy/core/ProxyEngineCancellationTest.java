package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.post;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.upstream.UpstreamConfig.ClientKind;
import io.github.openaiproxy.testsupport.RawUpstream;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** A client that goes away releases the upstream connection. */
@ParameterizedClass(name = "{0} client")
@EnumSource(
        value = ClientKind.class,
        names = {"JETTY", "JDK"})
class ProxyEngineCancellationTest {
    /** Every case runs on both upstream clients. */
    @Parameter
    ClientKind client;

    private static final Duration WAIT = Duration.ofSeconds(20);

    private ProxyEngine engine;

    @AfterEach
    void close() {
        engine.close();
    }

    @Test
    void cancellingThePendingResponseAbortsTheUpstreamCall() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            engine = ProxyEngine.create(config(raw.baseUrl(), client).build());
            CompletableFuture<ProxyResponse> pending =
                    engine.handle(post("/v1/chat/completions", CHAT).build());

            try (RawUpstream.Connection c = raw.accept()) {
                pending.cancel(true);

                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }

    @Test
    void cancellingAStreamClosesTheUpstreamConnection() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            engine = ProxyEngine.create(config(raw.baseUrl(), client).build());
            CompletableFuture<ProxyResponse> pending = engine.handle(
                    post("/v1/chat/completions", "{\"stream\":true}").build());

            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.writeChunk("data: {\"n\":1}\n\n");
                ProxyResponse response = pending.get(30, TimeUnit.SECONDS);
                TestSubscriber client = new TestSubscriber(1);
                response.body().subscribe(client);
                client.awaitItems(1, WAIT);

                client.cancel();

                assertThat(client.texts()).containsExactly("data: {\"n\":1}\n\n");
                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }
    /** Nothing reached the client before the first event: a client that leaves then stops the upstream's read. */
    @Test
    void cancellingWhileAStreamHasSentOnlyItsHeadersAndACommentClosesTheUpstreamConnection() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            java.util.concurrent.CountDownLatch headers = new java.util.concurrent.CountDownLatch(1);
            engine = ProxyEngine.builder(config(raw.baseUrl(), client).build())
                    .observer((method, path) -> new io.github.openaiproxy.core.observe.ProxyObserver.Observation() {
                        @Override
                        public void upstreamResponded(int status, Duration latency) {
                            headers.countDown(); // the engine has the headers: the stream is read for its first event
                        }
                    })
                    .build();
            CompletableFuture<ProxyResponse> pending = engine.handle(
                    post("/v1/chat/completions", "{\"stream\":true}").build());

            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.writeChunk(": keep-alive\n\n");
                assertThat(headers.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

                pending.cancel(true);

                assertThat(c.closedByPeerWithin(WAIT)).isTrue();
            }
        }
    }
}
