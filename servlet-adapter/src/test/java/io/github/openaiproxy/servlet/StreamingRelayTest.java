package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.servlet.support.OpenAiFixtures.chatStreamEvents;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.contentChunk;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Server-Sent Events through the servlet adapter, against a hand-written upstream that paces, splits
 * and breaks its output on the test's command. Ordering is enforced with latches (the upstream writes
 * the next bytes only once the client has seen the previous event), so nothing depends on timing.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS) // a hang fails the test instead of the build
class StreamingRelayTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String STREAM_REQUEST =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}";
    private static final ObjectMapper JSON = new ObjectMapper();

    final HttpClient http = HttpClient.newHttpClient();
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

    private void startProxy(StubUpstream.Handler handler) {
        startProxy(handler, UpstreamConfig.DEFAULT_RESPONSE_TIMEOUT);
    }

    private void startProxy(StubUpstream.Handler handler, Duration responseTimeout) {
        upstream = StubUpstream.start(handler);
        proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withResponseTimeout(responseTimeout))
                .build());
    }

    private HttpResponse<InputStream> postStream(String path, String body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(proxy.uri(path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
    }

    private HttpResponse<byte[]> postBytes(String path, String body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(proxy.uri(path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    /** Reads one event (through its blank line), or {@code null} at the end of the body. */
    private static String readEvent(InputStream in) throws IOException {
        ByteArrayOutputStream event = new ByteArrayOutputStream();
        int prev = -1;
        int b;
        while ((b = in.read()) != -1) {
            event.write(b);
            if (b == '\n' && prev == '\n') {
                return event.toString(StandardCharsets.UTF_8);
            }
            prev = b;
        }
        assertThat(event.size()).as("bytes after the last complete event").isZero();
        return null;
    }

    private static List<String> readAllEvents(InputStream in) throws IOException {
        List<String> events = new ArrayList<>();
        String e;
        while ((e = readEvent(in)) != null) {
            events.add(e);
        }
        return events;
    }

    private static boolean await(CountDownLatch latch) throws InterruptedException {
        return latch.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    // (a) ------------------------------------------------------------------------------------------

    @Test
    void firstEventReachesTheClientWhileTheUpstreamIsStillSending() throws Exception {
        List<String> events = chatStreamEvents("Hello", " world");
        CountDownLatch clientHasFirst = new CountDownLatch(1);
        AtomicBoolean restWritten = new AtomicBoolean();
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(events.get(0));
            if (!await(clientHasFirst)) {
                throw new AssertionError("the client never saw the first event while the upstream held the rest");
            }
            restWritten.set(true);
            for (String e : events.subList(1, events.size())) {
                ex.chunk(e);
            }
            ex.endChunks();
        });

        HttpResponse<InputStream> r = postStream("/v1/chat/completions", STREAM_REQUEST);
        assertThat(r.statusCode()).isEqualTo(200);
        try (InputStream in = r.body()) {
            assertThat(readEvent(in)).isEqualTo(events.get(0));
            assertThat(restWritten).as("the upstream had not sent more yet").isFalse();
            clientHasFirst.countDown();
            assertThat(readAllEvents(in)).containsExactlyElementsOf(events.subList(1, events.size()));
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aStreamWithBareCarriageReturnsReachesTheClientEventByEventAndByteForByte(boolean ledger) throws Exception {
        // Lines ended with CR alone (SSE allows it): each read ends on its event's last CR. With the ledger on, the
        // proxy asks for usage, and the client must still get exactly what the upstream would have sent it.
        String head = "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[";
        CountDownLatch clientHasFirst = new CountDownLatch(1);
        AtomicBoolean restWritten = new AtomicBoolean();
        AtomicBoolean injected = new AtomicBoolean();
        upstream = StubUpstream.start(ex -> {
            boolean usage = ex.request().bodyText().contains("include_usage");
            injected.set(usage);
            String tail = usage ? "],\"usage\":null}\r\r" : "]}\r\r";
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk("data: " + head + "{\"index\":0,\"delta\":{\"content\":\"H\u00e9\"}}" + tail);
            if (!await(clientHasFirst)) {
                throw new AssertionError("the client never saw the first event while the upstream held the rest");
            }
            restWritten.set(true);
            ex.chunk("data: " + head + "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}" + tail);
            if (usage) {
                ex.chunk("data: " + head + "],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
                        + "\"total_tokens\":11}}\r\r");
            }
            ex.chunk("data: [DONE]\r\r");
            ex.endChunks();
        });
        ProxyConfig.Builder config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()));
        if (ledger) {
            config.ledger(io.github.openaiproxy.core.usage.ledger.LedgerConfig.DEFAULTS.withStore(
                    io.github.openaiproxy.core.usage.ledger.LedgerConfig.Store.MEMORY));
        }
        proxy = TomcatProxy.servlet(config.build());

        String first = "data: " + head + "{\"index\":0,\"delta\":{\"content\":\"H\u00e9\"}}]}\r\r";
        HttpResponse<InputStream> r = postStream("/v1/chat/completions", STREAM_REQUEST);
        assertThat(r.statusCode()).isEqualTo(200);
        try (InputStream in = r.body()) {
            byte[] want = first.getBytes(StandardCharsets.UTF_8);
            assertThat(in.readNBytes(want.length)).isEqualTo(want);
            assertThat(restWritten).as("the upstream had not sent more yet").isFalse();
            clientHasFirst.countDown();
            assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8))
                    .isEqualTo("data: " + head + "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\r"
                            + "data: [DONE]\r\r");
        }
        assertThat(injected.get()).as("the proxy asked for usage").isEqualTo(ledger);
    }

    // (g) ------------------------------------------------------------------------------------------

    @Test
    void everyEventIsFlushedOnItsOwn() throws Exception {
        // Lock step: the upstream writes event i+1 only after the client has read event i. A proxy that
        // buffered even two events would stall here and the upstream would report it.
        List<String> events = chatStreamEvents("One", " two", " three", " four", " five");
        Semaphore clientRead = new Semaphore(0);
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            for (int i = 0; i < events.size(); i++) {
                if (i > 0 && !clientRead.tryAcquire(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                    throw new AssertionError("event " + (i - 1) + " was not flushed to the client on its own");
                }
                ex.chunk(events.get(i));
            }
            ex.endChunks();
        });

        HttpResponse<InputStream> r = postStream("/v1/chat/completions", STREAM_REQUEST);
        List<String> received = new ArrayList<>();
        try (InputStream in = r.body()) {
            String e;
            while ((e = readEvent(in)) != null) {
                received.add(e);
                clientRead.release();
            }
        }
        assertThat(received).containsExactlyElementsOf(events);
    }

    @Test
    void eventsSpacedOutUpstreamArriveSpacedOut() throws Exception {
        // The timing view of the same property: six events 200 ms apart are not delivered in one lump.
        List<String> events = chatStreamEvents("a", "b", "c");
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            for (String e : events) {
                ex.chunk(e);
                Thread.sleep(200);
            }
            ex.endChunks();
        });

        HttpResponse<InputStream> r = postStream("/v1/chat/completions", STREAM_REQUEST);
        List<Long> arrivals = new ArrayList<>();
        try (InputStream in = r.body()) {
            while (readEvent(in) != null) {
                arrivals.add(System.nanoTime() / 1_000_000);
            }
        }
        assertThat(arrivals).hasSize(events.size());
        // Nominal spread 5 x 200 ms; a buffering proxy would deliver all at once. Generous bound for a
        // loaded machine: a fifth of the nominal spread.
        assertThat(arrivals.get(arrivals.size() - 1) - arrivals.get(0)).isGreaterThan(200);
    }

    // (c) ------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "upstream {0}")
    @ValueSource(strings = {"resets the connection", "closes without the last chunk"})
    void upstreamBreakingOffMidStreamEndsWithOneErrorEventAndNoDone(String how) throws Exception {
        List<String> events = chatStreamEvents("Hel", "lo", " there");
        List<String> firstThree = events.subList(0, 3);
        CountDownLatch clientHasThree = new CountDownLatch(1);
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            for (String e : firstThree) {
                ex.chunk(e);
            }
            // Break off only once the client holds the three events, so none can be lost in transit.
            if (!await(clientHasThree)) {
                throw new AssertionError("the client did not receive the first three events");
            }
            ex.chunk("data: {\"id\":\"chatcmpl-B9M"); // half an event, never completed
            if (how.startsWith("resets")) {
                ex.reset();
            }
            // otherwise the handler returns and the stub closes the socket: FIN inside a chunked body
        });

        HttpResponse<InputStream> r = postStream("/v1/chat/completions", STREAM_REQUEST);
        assertThat(r.statusCode()).isEqualTo(200);
        List<String> received = new ArrayList<>();
        try (InputStream in = r.body()) {
            for (int i = 0; i < 3; i++) {
                received.add(readEvent(in));
            }
            clientHasThree.countDown();
            received.addAll(readAllEvents(in));
        }

        assertThat(received).hasSize(4);
        assertThat(received.subList(0, 3)).containsExactlyElementsOf(firstThree);
        String last = received.get(3);
        assertThat(last).startsWith("data: {\"error\":").endsWith("}\n\n").doesNotContain("[DONE]");
        JsonNode error = JSON.readTree(last.substring("data: ".length())).get("error");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        assertThat(error.get("code").asText()).isEqualTo("upstream_disconnected");
        assertThat(error.get("message").asText()).isNotBlank();
        assertThat(String.join("", received)).doesNotContain("[DONE]").doesNotContain("chatcmpl-B9M\"");
    }

    @Test
    void aCompleteStreamIsRelayedByteForByteWithItsOwnDone() throws Exception {
        // The counterpart of the test above: when the upstream finishes, the transcript is exactly its own.
        List<String> events = chatStreamEvents("Hel", "lo");
        String transcript = String.join("", events) + ": keep-alive comment\n\nevent: ping\ndata: {}\n\n";
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream; charset=utf-8");
            ex.chunk(transcript);
            ex.endChunks();
        });

        HttpResponse<byte[]> r = postBytes("/v1/chat/completions", STREAM_REQUEST);

        assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(transcript);
    }

    // (d) (e) --------------------------------------------------------------------------------------

    @Test
    void anEventSplitAcrossReadsArrivesWholeAsOneFlush() throws Exception {
        List<String> events = chatStreamEvents("Hello", " world");
        String split = events.get(1);
        CountDownLatch clientHasFirst = new CountDownLatch(1);
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(events.get(0));
            if (!await(clientHasFirst)) {
                throw new AssertionError("the client did not receive the first event");
            }
            // The second event a byte per TCP segment, with a pause in the middle and between its two
            // line feeds, so the proxy's reads end inside it.
            byte[] bytes = split.getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < bytes.length; i++) {
                ex.chunk(new byte[] {bytes[i]});
                if (i == bytes.length / 2 || i == bytes.length - 2) {
                    Thread.sleep(50);
                }
            }
            for (String e : events.subList(2, events.size())) {
                ex.chunk(e);
            }
            ex.endChunks();
        });

        try (RawClient client = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST)) {
            assertThat(client.readHead()).isEqualTo(200);
            // Each flush of the proxy is one HTTP chunk: one event per chunk proves it never wrote half.
            assertThat(new String(client.readChunk(), StandardCharsets.UTF_8)).isEqualTo(events.get(0));
            clientHasFirst.countDown();
            List<String> chunks = new ArrayList<>();
            byte[] c;
            while ((c = client.readChunk()) != null) {
                chunks.add(new String(c, StandardCharsets.UTF_8));
            }
            assertThat(chunks).containsExactlyElementsOf(events.subList(1, events.size()));
        }
    }

    @Test
    void multiByteCharactersSplitAcrossReadsArriveByteIdentical() throws Exception {
        String event = "data: " + contentChunk("你好🌍 — ça va? Ünïcödé ✓") + "\n\n";
        byte[] bytes = event.getBytes(StandardCharsets.UTF_8);
        int globe = event.indexOf('🌍');
        int cut = event.substring(0, globe).getBytes(StandardCharsets.UTF_8).length + 2; // inside the emoji
        int inHan = event.substring(0, event.indexOf('好')).getBytes(StandardCharsets.UTF_8).length + 1;
        byte[] expected = concat(bytes, "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(java.util.Arrays.copyOfRange(bytes, 0, inHan));
            Thread.sleep(50);
            ex.chunk(java.util.Arrays.copyOfRange(bytes, inHan, cut));
            Thread.sleep(50);
            ex.chunk(java.util.Arrays.copyOfRange(bytes, cut, bytes.length));
            ex.chunk("data: [DONE]\n\n");
            ex.endChunks();
        });

        HttpResponse<byte[]> r = postBytes("/v1/chat/completions", STREAM_REQUEST);

        assertThat(r.body()).isEqualTo(expected);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("你好🌍 — ça va? Ünïcödé ✓");
    }

    // (f) ------------------------------------------------------------------------------------------

    @Test
    void aTwoMebibyteDataLineArrivesIntact() throws Exception {
        byte[] payload = new byte[2 * 1024 * 1024];
        new Random(42).nextBytes(payload);
        String line = "data: {\"b64\":\"" + Base64.getEncoder().encodeToString(payload) + "\"}\n\n";
        byte[] big = line.getBytes(StandardCharsets.US_ASCII);
        assertThat(big.length).isGreaterThan(2 * 1024 * 1024);
        byte[] expected = concat(big, "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII));
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            for (int off = 0; off < big.length; off += 60_000) {
                ex.chunk(java.util.Arrays.copyOfRange(big, off, Math.min(big.length, off + 60_000)));
            }
            ex.chunk("data: [DONE]\n\n");
            ex.endChunks();
        });

        HttpResponse<byte[]> r = postBytes("/v1/chat/completions", STREAM_REQUEST);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body().length).isEqualTo(expected.length);
        assertThat(sha256(r.body())).isEqualTo(sha256(expected));
    }

    // (h) ------------------------------------------------------------------------------------------

    @Test
    void aStreamLongerThanTheResponseTimeoutIsNotCutOff() throws Exception {
        // The response timeout bounds the wait for the response headers, not the length of a stream.
        List<String> events = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            events.add("data: " + contentChunk("t" + i) + "\n\n");
        }
        events.add("data: [DONE]\n\n");
        startProxy(
                ex -> {
                    ex.head(200, "Content-Type", "text/event-stream");
                    for (String e : events) {
                        ex.chunk(e);
                        Thread.sleep(250); // 13 x 250 ms: about three times the response timeout
                    }
                    ex.endChunks();
                },
                Duration.ofSeconds(1));

        long start = System.nanoTime();
        HttpResponse<InputStream> r = postStream("/v1/chat/completions", STREAM_REQUEST);
        List<String> received;
        try (InputStream in = r.body()) {
            received = readAllEvents(in);
        }
        long millis = (System.nanoTime() - start) / 1_000_000;

        assertThat(millis).isGreaterThan(2000);
        assertThat(received).containsExactlyElementsOf(events);
    }

    @Test
    void theResponseTimeoutStillAppliesToTheHeaders() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        startProxy(
                ex -> {
                    release.await(30, TimeUnit.SECONDS); // no headers until the test is over
                },
                Duration.ofSeconds(1));

        HttpResponse<byte[]> r = postBytes("/v1/chat/completions", STREAM_REQUEST);
        release.countDown();

        assertThat(r.statusCode()).isEqualTo(504);
        assertThat(JSON.readTree(r.body()).at("/error/code").asText()).isEqualTo("upstream_timeout");
    }

    // (i) ------------------------------------------------------------------------------------------

    @Test
    void anUpstreamErrorStatusForAStreamRequestIsAJsonErrorWithThatStatus() throws Exception {
        byte[] error = OpenAiFixtures.SERVER_ERROR.getBytes(StandardCharsets.UTF_8);
        startProxy(ex -> ex.respond(500, "application/json", error));

        HttpResponse<byte[]> r = postBytes("/v1/chat/completions", STREAM_REQUEST);

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
        assertThat(r.body()).isEqualTo(error);
    }

    @Test
    void anUpstreamErrorStatusForAStreamOnTheSimpleRouteIsASeedError() throws Exception {
        startProxy(ex ->
                ex.respond(500, "application/json", OpenAiFixtures.SERVER_ERROR.getBytes(StandardCharsets.UTF_8)));

        HttpResponse<byte[]> r =
                postBytes("/", "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.get("error").asText()).isEqualTo("OpenAI API Error");
        assertThat(body.get("status").asInt()).isEqualTo(500);
        assertThat(body.get("message").asText()).startsWith("OpenAI API returned 500: ");
    }

    // (j) ------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"/v1/chat/completions", "/"})
    void aStreamCarriesEventStreamNoCacheAndNoBufferingHeaders(String path) throws Exception {
        List<String> events = chatStreamEvents("Hi");
        startProxy(ex -> {
            ex.head(200, "Content-Type", "text/event-stream; charset=utf-8", "x-request-id", "req_stream");
            for (String e : events) {
                ex.chunk(e);
            }
            ex.endChunks();
        });

        HttpResponse<byte[]> r = postBytes(path, STREAM_REQUEST);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        assertThat(r.headers().allValues("Cache-Control")).containsExactly("no-cache");
        assertThat(r.headers().allValues("X-Accel-Buffering")).containsExactly("no");
        assertThat(r.headers().firstValue("Content-Length")).isEmpty();
        assertThat(r.headers().firstValue("x-request-id")).contains("req_stream");
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(String.join("", events));
    }

    // (k) ------------------------------------------------------------------------------------------

    @Test
    void aTwentyMebibyteJsonBodyIsRelayedCompleteAndByteIdentical() throws Exception {
        byte[] png = new byte[15 * 1024 * 1024];
        new Random(7).nextBytes(png);
        byte[] body = ("{\"created\":1713833628,\"data\":[{\"b64_json\":\""
                        + Base64.getEncoder().encodeToString(png) + "\",\"revised_prompt\":\"An otter\"}]}")
                .getBytes(StandardCharsets.US_ASCII);
        assertThat(body.length).isGreaterThan(20 * 1024 * 1024);
        startProxy(ex -> ex.respond(200, "application/json", body));

        HttpResponse<byte[]> r = postBytes(
                "/v1/images/generations",
                "{\"model\":\"dall-e-3\",\"prompt\":\"An otter\",\"response_format\":\"b64_json\"}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValueAsLong("Content-Length")).hasValue(body.length);
        assertThat(r.body().length).isEqualTo(body.length);
        assertThat(sha256(r.body())).isEqualTo(sha256(body));
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
