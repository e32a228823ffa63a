package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.BodyReadingUpstream;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.Received;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An upload (multipart) to a configured default named upstream ({@code upstreams.openai}) streams there as it does
 * without named upstreams: counted against {@code max-upload-size}, never held whole. As it can be sent only once, it
 * gets one attempt once a call read any of it: an upstream's failure is the client's answer, while a place refused
 * before any call (every key resting) or a call that failed before reading it (its connection refused) still falls
 * back. JSON bodies keep their retries and fallbacks.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NamedUpstreamUploadHttpTest {
    private static final int TWENTY_MB = 20 * 1024 * 1024;
    private static final int FIRST_PART = 256 * 1024;
    private static final String KEY = "sk-named-default-0123456789abcdefghij";
    private static final String TYPE = "multipart/form-data; boundary=" + UploadSizeLimitHttpTest.BOUNDARY;
    private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    private final List<StubUpstream.RecordedRequest> primaryCalls = new CopyOnWriteArrayList<>();
    private final List<StubUpstream.RecordedRequest> backupCalls = new CopyOnWriteArrayList<>();
    private BodyReadingUpstream reading;
    private StubUpstream primary;
    private StubUpstream backup;
    private TomcatProxy proxy;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        for (AutoCloseable c : new AutoCloseable[] {reading, primary, backup}) {
            if (c != null) {
                c.close();
            }
        }
    }

    private void start(String openaiBaseUrl, String... more) {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.openai.base-url", openaiBaseUrl);
        s.put("upstreams.openai.keys", KEY);
        s.put("pass-through-routes", UploadSizeLimitHttpTest.ROUTES);
        for (int i = 0; i < more.length; i += 2) {
            s.put(more[i], more[i + 1]);
        }
        proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig());
    }

    private static String head(String path, String type, boolean declared, int length) {
        return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type + "\r\n"
                + (declared ? "Content-Length: " + length : "Transfer-Encoding: chunked") + "\r\n\r\n";
    }

    /** Writes {@code body[from, to)} in 64 KiB pieces, as plain bytes or as chunks. */
    private static void send(RawHttp c, byte[] body, int from, int to, boolean plain) {
        for (int i = from; i < to; i += 64 * 1024) {
            byte[] piece = Arrays.copyOfRange(body, i, Math.min(to, i + 64 * 1024));
            if (plain) {
                c.write(piece);
            } else {
                c.writeChunk(piece);
            }
        }
    }

    private RawHttp.Response upload(String path, byte[] body) {
        return upload(path, body, TYPE);
    }

    /**
     * Twice max-body-size, under max-upload-size: it reaches the upstream byte for byte, and the upstream holds its
     * first bytes while the client still holds the rest, so the proxy never had it whole.
     */
    @ParameterizedTest(name = "{0} client, declared length {1}")
    @CsvSource({"JDK,true", "JDK,false", "JETTY,true", "JETTY,false"})
    void aTwentyMegabyteUploadStreamsToTheDefaultNamedUpstreamByteForByte(String client, boolean declared)
            throws Exception {
        reading = BodyReadingUpstream.start();
        start(reading.baseUrl().toString(), "upstream-client", client);
        byte[] body = UploadSizeLimitHttpTest.multipart(TWENTY_MB, 11);

        RawHttp.Response r;
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head("/v1/audio/transcriptions", TYPE, declared, body.length));
            send(c, body, 0, FIRST_PART, declared);
            assertThat(reading.firstBytes.await(10, TimeUnit.SECONDS))
                    .as("the upstream got the first bytes while the client still held the rest")
                    .isTrue();
            send(c, body, FIRST_PART, body.length, declared);
            if (!declared) {
                c.write("0\r\n\r\n");
            }
            r = c.readResponse();
        }

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.bodyText()).isEqualTo("{}");
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("openai");
        assertThat(r.header("OpenAI-Proxy-Attempts")).contains("openai 200");
        Received received = reading.received.get(30, TimeUnit.SECONDS);
        assertThat(received.complete()).isTrue();
        assertThat(received.body()).as("the upload, byte for byte").isEqualTo(body);
        assertThat(received.headers())
                .containsEntry("authorization", "Bearer " + KEY)
                .containsEntry("content-type", TYPE);
        if (declared) {
            assertThat(received.headers()).containsEntry("content-length", Integer.toString(TWENTY_MB));
        }
    }

    @ParameterizedTest(name = "{0} client")
    @ValueSource(strings = {"JDK", "JETTY"})
    void anUploadOverTheUploadLimitIs413AndItsUpstreamCallIsAborted(String client) throws Exception {
        int uploadLimit = 4 * 1024 * 1024;
        reading = BodyReadingUpstream.start();
        start(
                reading.baseUrl().toString(),
                "max-body-size",
                "1MB",
                "max-upload-size",
                "4MB",
                "upstream-client",
                client);
        byte[] body = UploadSizeLimitHttpTest.multipart(uploadLimit + 2 * 1024 * 1024, 12);

        RawHttp.Response r;
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head("/v1/files", TYPE, false, body.length));
            try {
                send(c, body, 0, body.length, false);
                c.write("0\r\n\r\n");
            } catch (java.io.UncheckedIOException refusedMidway) {
                // the proxy may answer and close before the whole body is written: the answer is read below
            }
            r = c.readResponse();
        }

        assertThat(assertOpenAiError(r, 413, "invalid_request_error", "request_too_large")
                        .path("message")
                        .textValue())
                .as("the upload limit, not the body limit")
                .contains(Integer.toString(uploadLimit));
        Received received = reading.received.get(30, TimeUnit.SECONDS);
        assertThat(received.complete()).as("the upstream's request was cut off").isFalse();
        assertThat(received.body().length)
                .as("past the body limit, within the upload limit")
                .isGreaterThan(1024 * 1024)
                .isLessThanOrEqualTo(uploadLimit);
    }

    /** The client's upload going over its limit aborts the call, but it is no failure of the upstream's. */
    @Test
    void anUploadCutOffAtItsLimitOpensNoCircuit() {
        primary = StubUpstream.start(ex -> {
            primaryCalls.add(ex.request());
            ex.respond(200, "application/json", "{\"id\":\"file-1\"}".getBytes(StandardCharsets.UTF_8));
        });
        start(
                primary.baseUrl().toString(),
                "max-body-size",
                "1MB",
                "max-upload-size",
                "2MB",
                "upstreams.openai.breaker-failures",
                "1",
                "upstreams.openai.breaker-open",
                "60s");
        byte[] tooLarge = UploadSizeLimitHttpTest.multipart(3 * 1024 * 1024, 15);
        RawHttp.Response refused;
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head("/v1/files", TYPE, false, tooLarge.length));
            try {
                send(c, tooLarge, 0, tooLarge.length, false);
                c.write("0\r\n\r\n");
            } catch (java.io.UncheckedIOException refusedMidway) {
                // the answer is read below
            }
            refused = c.readResponse();
        }
        byte[] body = UploadSizeLimitHttpTest.multipart(64 * 1024, 16);

        RawHttp.Response r = upload("/v1/files", body);

        assertOpenAiError(refused, 413, "invalid_request_error", "request_too_large");
        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Attempts")).contains("openai 200");
        assertThat(primaryCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(body));
    }

    /** A 503 (listed for retry) and a fallback configured: the upload is not sent again, nor elsewhere. */
    @Test
    void anUpstreamFailureForAnUploadIsTheClientsAnswerAfterOneAttemptWhileJsonIsStillRetried() {
        byte[] failed =
                "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}".getBytes(StandardCharsets.UTF_8);
        primary = StubUpstream.start(ex -> {
            primaryCalls.add(ex.request());
            ex.respond(503, "application/json", failed);
        });
        backup = StubUpstream.start(ex -> {
            backupCalls.add(ex.request());
            ex.respond(200, "application/json", "{\"id\":\"backup\"}".getBytes(StandardCharsets.UTF_8));
        });
        start(
                primary.baseUrl().toString(),
                "upstreams.openai.retries",
                "2",
                "upstreams.openai.fallback",
                "backup",
                "upstreams.backup.kind",
                "compatible",
                "upstreams.backup.base-url",
                backup.baseUrl().toString());
        byte[] body = UploadSizeLimitHttpTest.multipart(64 * 1024, 13);

        RawHttp.Response r = upload("/v1/audio/transcriptions", body);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(503);
        assertThat(r.body()).as("the upstream's own answer").isEqualTo(failed);
        assertThat(r.header("OpenAI-Proxy-Attempts")).contains("openai 503");
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("openai");
        assertThat(primaryCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(body));
        assertThat(backupCalls).isEmpty();

        // A JSON body is in memory: retried, then taken to the fallback, as before.
        byte[] chat = CHAT.getBytes(StandardCharsets.UTF_8);
        RawHttp.Response json = upload("/v1/chat/completions", chat, "application/json");
        assertThat(json.status()).as(json.bodyText()).isEqualTo(200);
        assertThat(json.header("OpenAI-Proxy-Attempts")).contains("openai 503, openai 503, openai 503, backup 200");
        assertThat(primaryCalls).hasSize(4);
        assertThat(backupCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(chat));
    }

    /** Every key resting is a refusal before any byte went: the upload still goes to the fallback, whole. */
    @Test
    void anUploadWhoseUpstreamHasNoKeyLeftFallsBackBeforeAnyByteIsSent() {
        primary = StubUpstream.start(ex -> {
            primaryCalls.add(ex.request());
            ex.respond(
                    429,
                    "application/json",
                    "{\"error\":{\"message\":\"Rate limit reached\"}}".getBytes(StandardCharsets.UTF_8));
        });
        backup = StubUpstream.start(ex -> {
            backupCalls.add(ex.request());
            ex.respond(200, "application/json", "{\"id\":\"file-1\"}".getBytes(StandardCharsets.UTF_8));
        });
        start(
                primary.baseUrl().toString(),
                "upstreams.openai.key-cooldown",
                "60s",
                "upstreams.openai.fallback",
                "backup",
                "upstreams.backup.kind",
                "compatible",
                "upstreams.backup.base-url",
                backup.baseUrl().toString());
        byte[] body = UploadSizeLimitHttpTest.multipart(64 * 1024, 14);

        RawHttp.Response limited = upload("/v1/files", body);
        RawHttp.Response moved = upload("/v1/files", body);

        assertThat(limited.status()).as(limited.bodyText()).isEqualTo(429);
        assertThat(limited.header("OpenAI-Proxy-Attempts")).contains("openai 429");
        assertThat(moved.status()).as(moved.bodyText()).isEqualTo(200);
        assertThat(moved.header("OpenAI-Proxy-Attempts")).contains("openai no-key, backup 200");
        assertThat(moved.header("OpenAI-Proxy-Upstream")).contains("backup");
        assertThat(primaryCalls).hasSize(1);
        assertThat(backupCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(body));
    }

    /**
     * A refused connection reads none of the client's body past what the proxy holds (Jetty's client takes the first
     * piece before it connects, the JDK's nothing): the upload goes whole to the next attempt, then the fallback, as a
     * JSON body would: a multipart one (held up to its model field) and a binary one (held from its first piece).
     */
    @ParameterizedTest(name = "{0} client, {1}")
    @CsvSource({
        "JDK,multipart/form-data",
        "JETTY,multipart/form-data",
        "JDK,application/octet-stream",
        "JETTY,application/octet-stream"
    })
    void anUploadWhoseUpstreamRefusesTheConnectionGoesWholeToTheFallback(String client, String kind) {
        backup = StubUpstream.start(ex -> {
            backupCalls.add(ex.request());
            ex.respond(200, "application/json", "{\"text\":\"backup\"}".getBytes(StandardCharsets.UTF_8));
        });
        start(
                "http://127.0.0.1:" + Upstream.closedPort(),
                "upstream-client",
                client,
                "upstreams.openai.retries",
                "1",
                "upstreams.openai.fallback",
                "backup",
                "upstreams.backup.kind",
                "compatible",
                "upstreams.backup.base-url",
                backup.baseUrl().toString());
        byte[] body = UploadSizeLimitHttpTest.multipart(2 * 1024 * 1024, 17);
        boolean form = kind.startsWith("multipart");
        String type = form ? TYPE : kind;
        String path = form ? "/v1/audio/transcriptions" : "/v1/uploads/upload_1/parts";

        RawHttp.Response r = upload(path, body, type);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.bodyText()).isEqualTo("{\"text\":\"backup\"}");
        assertThat(r.header("OpenAI-Proxy-Attempts")).contains("openai error, openai error, backup 200");
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("backup");
        assertThat(backupCalls).singleElement().satisfies(c -> {
            assertThat(c.body()).as("the upload, byte for byte").isEqualTo(body);
            assertThat(c.header("Content-Type")).contains(type);
            assertThat(c.target()).isEqualTo(path);
        });
    }

    /** An upstream that read part of the upload, then broke the connection: the bytes are gone, nothing is retried. */
    @ParameterizedTest(name = "{0} client")
    @ValueSource(strings = {"JDK", "JETTY"})
    void anUploadWhoseUpstreamBreaksOffAfterReadingSomeIsNotSentAgain(String client) throws Exception {
        CountDownLatch readSome = new CountDownLatch(1);
        try (ServerSocket breaking = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(
                    () -> {
                        try (Socket s = breaking.accept()) {
                            InputStream in = s.getInputStream();
                            in.readNBytes(64 * 1024); // the head and the upload's first bytes
                            readSome.countDown();
                            s.setSoLinger(true, 0); // a reset, not a clean end
                        } catch (IOException e) {
                            // the test's assertions tell
                        }
                    },
                    "breaking-upstream");
            t.setDaemon(true);
            t.start();
            backup = StubUpstream.start(ex -> {
                backupCalls.add(ex.request());
                ex.respond(200, "application/json", "{\"text\":\"backup\"}".getBytes(StandardCharsets.UTF_8));
            });
            start(
                    "http://127.0.0.1:" + breaking.getLocalPort(),
                    "upstream-client",
                    client,
                    "upstreams.openai.retries",
                    "1",
                    "upstreams.openai.fallback",
                    "backup",
                    "upstreams.backup.kind",
                    "compatible",
                    "upstreams.backup.base-url",
                    backup.baseUrl().toString());
            byte[] body = UploadSizeLimitHttpTest.multipart(2 * 1024 * 1024, 18);

            RawHttp.Response r;
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                c.write(head("/v1/audio/transcriptions", TYPE, true, body.length));
                try {
                    send(c, body, 0, body.length, true);
                } catch (java.io.UncheckedIOException refusedMidway) {
                    // the proxy may answer and close before the whole body is written: the answer is read below
                }
                r = c.readResponse();
            }

            assertThat(readSome.await(10, TimeUnit.SECONDS)).isTrue();
            assertOpenAiError(r, 502, "server_error", "upstream_unreachable");
            assertThat(r.header("OpenAI-Proxy-Attempts")).contains("openai error");
            assertThat(backupCalls).isEmpty();
        }
    }

    private RawHttp.Response upload(String path, byte[] body, String type) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(path, type, true, body.length));
            c.write(body);
            return c.readResponse();
        }
    }
}
