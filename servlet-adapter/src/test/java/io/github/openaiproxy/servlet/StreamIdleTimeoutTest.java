package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.chatStreamEvents;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * An upstream stream that goes silent is not held open forever: after {@code stream-idle-timeout} without
 * an event (the first one included) the client gets one error event and the end of the stream, and the
 * upstream connection is closed. A non-streamed body that stalls is ended the same way: 504 while the
 * proxy still holds the status, an incomplete response after. With both upstream clients.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StreamIdleTimeoutTest {
    private static final Duration IDLE = Duration.ofMillis(700);
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String STREAM_REQUEST =
            "{\"model\":\"o3\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Think hard\"}]}";
    private static final String CHAT = "{\"model\":\"o3\",\"messages\":[{\"role\":\"user\",\"content\":\"Think\"}]}";
    private static final ObjectMapper JSON = new ObjectMapper();

    StubUpstream upstream;
    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    private void start(UpstreamConfig.ClientKind client, StubUpstream.Handler handler) {
        upstream = StubUpstream.start(handler);
        proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withClient(client)
                        .withStreamIdleTimeout(IDLE))
                .build());
    }

    /**
     * Sends the given events, notes when it fell silent, then sends nothing until the proxy drops the
     * connection (or a minute passes).
     */
    private static StubUpstream.Handler silentAfter(List<String> events, AtomicLong silentSince) {
        return ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            for (String e : events) {
                ex.chunk(e);
            }
            silentSince.set(System.nanoTime());
            ex.awaitPeerClosed(Duration.ofSeconds(60));
        };
    }

    @ParameterizedTest(name = "{0} client")
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void aStreamSilentAfterItsFirstEventEndsWithAnErrorEventAndFreesTheUpstream(UpstreamConfig.ClientKind client)
            throws Exception {
        String first = chatStreamEvents("Hmm").get(0);
        AtomicLong silentSince = new AtomicLong();
        start(client, silentAfter(List.of(first), silentSince));

        try (RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST)) {
            assertThat(c.readHead()).isEqualTo(200);
            assertThat(c.readEvent()).isEqualTo(first);
            StubUpstream.Exchange exchange = upstream.awaitExchange(WAIT);

            String error = c.readEvent();
            long silentFor = (System.nanoTime() - silentSince.get()) / 1_000_000;

            assertIdleError(error);
            assertThat(c.readChunk())
                    .as("the stream ends after the error event")
                    .isNull();
            assertThat(silentFor)
                    .as("ms the upstream had been silent when the error event arrived")
                    .isGreaterThanOrEqualTo(IDLE.toMillis());
            assertThat(exchange.awaitPeerClosed(WAIT))
                    .as("the proxy closed the upstream connection")
                    .isTrue();
        }
    }

    @ParameterizedTest(name = "{0} client")
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void theTimeoutAlsoAppliesBeforeTheFirstEventWhichCommittedNothingSoTheAnswerIs504(UpstreamConfig.ClientKind client)
            throws Exception {
        start(client, silentAfter(List.of(), new AtomicLong()));

        // Nothing was sent before the first event: the client gets the proxy's JSON error, not a 200 stream.
        HttpResponse<String> r = Http.postJson(proxy.uri("/v1/chat/completions"), STREAM_REQUEST);

        assertOpenAiError(r, 504, "server_error", "upstream_timeout");
        assertThat(upstream.awaitExchange(WAIT).awaitPeerClosed(WAIT)).isTrue();
    }

    @ParameterizedTest(name = "{0} client")
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY"})
    void eventsCloserThanTheTimeoutKeepAStreamOpenLongerThanIt(UpstreamConfig.ClientKind client) throws Exception {
        List<String> events = chatStreamEvents("a", "b", "c", "d", "e", "f");
        start(client, ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            for (String e : events) {
                ex.chunk(e);
                Thread.sleep(IDLE.toMillis() / 3); // 9 x 233 ms: three times the idle timeout in all
            }
            ex.endChunks();
        });

        try (RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST)) {
            assertThat(c.readHead()).isEqualTo(200);
            for (String e : events) {
                assertThat(c.readEvent()).isEqualTo(e);
            }
            assertThat(c.readChunk()).isNull();
        }
    }

    /**
     * An upstream that keeps a long think alive with SSE comments (OpenRouter's {@code : OPENROUTER PROCESSING},
     * a {@code : keep-alive}) is not silent: its comments restart the timeout and reach the client, the proxy's
     * only heartbeats.
     */
    @ParameterizedTest(name = "{0} client")
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void commentsCloserThanTheTimeoutKeepAStreamOpenAndReachTheClient(UpstreamConfig.ClientKind client)
            throws Exception {
        List<String> events = chatStreamEvents("a", "b");
        start(client, ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(events.get(0));
            for (int i = 0; i < 9; i++) {
                Thread.sleep(IDLE.toMillis() / 3); // three times the idle timeout in all, comments only
                ex.chunk(": keep-alive\n\n");
            }
            ex.chunk(events.get(1));
            ex.endChunks();
        });

        try (RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST)) {
            assertThat(c.readHead()).isEqualTo(200);
            assertThat(c.readEvent()).isEqualTo(events.get(0));
            for (int i = 0; i < 9; i++) {
                assertThat(c.readEvent()).isEqualTo(": keep-alive\n\n");
            }
            assertThat(c.readEvent()).isEqualTo(events.get(1));
            assertThat(c.readChunk()).isNull();
        }
    }

    @ParameterizedTest(name = "{0} client")
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void aNonStreamedBodySilentWithinThePrefetchIs504(UpstreamConfig.ClientKind client) throws Exception {
        start(client, ex -> {
            ex.head(200, "Content-Type", "application/json");
            ex.chunk("{\"id\":\"chatcmpl-1\",");
            ex.awaitPeerClosed(Duration.ofSeconds(60));
        });

        HttpResponse<String> r = Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);

        assertOpenAiError(r, 504, "server_error", "upstream_timeout");
        assertThat(upstream.awaitExchange(WAIT).awaitPeerClosed(WAIT)).isTrue();
    }

    @ParameterizedTest(name = "{0} client")
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void aLongBodySilentAfterThePrefetchEndsIncompleteAndFreesTheUpstream(UpstreamConfig.ClientKind client)
            throws Exception {
        byte[] piece = "A".repeat(32 * 1024).getBytes(StandardCharsets.US_ASCII);
        start(client, ex -> {
            ex.head(200, "Content-Type", "application/json");
            ex.chunk("{\"data\":[{\"b64_json\":\"");
            for (int i = 0; i < 10; i++) {
                ex.chunk(piece); // past the 256 KiB prefetch: the status is out
            }
            ex.awaitPeerClosed(Duration.ofSeconds(60));
        });

        try (RawClient c = RawClient.post(proxy.port(), "/v1/images/generations", "{\"prompt\":\"An otter\"}")) {
            assertThat(c.readHead()).isEqualTo(200);
            assertThatThrownBy(() -> {
                        while (c.readChunk() != null) {
                            // the body up to the silence
                        }
                    })
                    .as("the body ends without its last chunk")
                    .isInstanceOf(IOException.class);
        }
        assertThat(upstream.awaitExchange(WAIT).awaitPeerClosed(WAIT)).isTrue();
    }

    private static void assertIdleError(String event) throws Exception {
        assertThat(event).startsWith("data: {\"error\":").endsWith("}\n\n");
        JsonNode error = JSON.readTree(event.substring("data: ".length())).get("error");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        assertThat(error.get("code").asText()).isEqualTo("upstream_timeout");
        assertThat(error.get("message").asText()).isNotBlank();
    }
}
