package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.BodyReadingUpstream;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.Received;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two body limits over real HTTP: {@code max-body-size} for every body the proxy may read or parse (JSON), the larger
 * {@code max-upload-size} for an upload it only streams (multipart or binary on a pass-through route that takes no
 * JSON), counted as it passes whether its length is declared or not. Raising the second lets OpenAI's uploads
 * (audio 25 MB, files 512 MB) through without letting a client make the proxy parse a JSON body of that size.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UploadSizeLimitHttpTest {
    static final int TWELVE_MB = 12 * 1024 * 1024;
    static final String BOUNDARY = "----upload-boundary-7MA4YWxkTrZu0gW";
    static final String ROUTES = "POST /v1/chat/completions, POST /v1/audio/transcriptions, POST /v1/files,"
            + " POST /v1/uploads/{id}/parts, POST /v1/completions";
    static final String ADMIN_TOKEN = "admin-token-for-upload-tests-0123456789";

    final List<StubUpstream.RecordedRequest> calls = new CopyOnWriteArrayList<>();
    StubUpstream upstream;
    BodyReadingUpstream reading;
    ProxyServer proxy;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
        if (reading != null) {
            reading.close();
        }
    }

    /** A proxy with the upload routes added, the given settings, and an upstream that answers every call 200. */
    private void start(Map<String, String> settings) {
        upstream = StubUpstream.start(ex -> {
            calls.add(ex.request());
            ex.respond(200, "application/json", "{\"id\":\"ok\"}".getBytes(StandardCharsets.UTF_8));
        });
        proxy = TomcatProxy.servlet(config(settings, upstream.baseUrl()));
    }

    private static ProxyConfig config(Map<String, String> settings, URI upstream) {
        Map<String, String> all = new HashMap<>(settings);
        all.putIfAbsent("pass-through-routes", ROUTES);
        return ProxySettings.from(all)
                .applyTo(ProxyConfig.builder())
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream))
                .build();
    }

    /** A multipart/form-data body of exactly {@code size} bytes: one file part of random bytes. */
    static byte[] multipart(int size, long seed) {
        byte[] head = ("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--"
                        + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.mp3\"\r\n"
                        + "Content-Type: audio/mpeg\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] tail = ("\r\n--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[size];
        new Random(seed).nextBytes(out);
        System.arraycopy(head, 0, out, 0, head.length);
        System.arraycopy(tail, 0, out, size - tail.length, tail.length);
        return out;
    }

    /**
     * A chat body of exactly {@code size} bytes that is not valid JSON past its start: parsed, it would be 400
     * {@code invalid_json}; a 413 says it was refused by its size before anything parsed it.
     */
    static byte[] unparsableChat(int size) {
        byte[] out = new byte[size];
        Arrays.fill(out, (byte) '[');
        byte[] start = "{\"model\":\"gpt-4o\",\"messages\":".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(start, 0, out, 0, start.length);
        return out;
    }

    private static String head(String path, String type, String framing) {
        return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type + "\r\n" + framing + "\r\n";
    }

    private static RawHttp.Response declared(ProxyServer proxy, String path, String type, byte[] body) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(path, type, "Content-Length: " + body.length + "\r\n"));
            try {
                c.write(body);
            } catch (java.io.UncheckedIOException refusedMidway) {
                // the proxy may answer and close before the whole body is written: the answer is read below
            }
            return c.readResponse();
        }
    }

    private static RawHttp.Response chunked(ProxyServer proxy, String path, String type, byte[] body) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(path, type, "Transfer-Encoding: chunked\r\n"));
            try {
                for (int i = 0; i < body.length; i += 64 * 1024) {
                    c.writeChunk(Arrays.copyOfRange(body, i, Math.min(body.length, i + 64 * 1024)));
                }
                c.write("0\r\n\r\n");
            } catch (java.io.UncheckedIOException refusedMidway) {
                // as above
            }
            return c.readResponse();
        }
    }

    private static void assertTooLarge(RawHttp.Response r, long limit) {
        assertThat(assertOpenAiError(r, 413, "invalid_request_error", "request_too_large")
                        .path("message")
                        .textValue())
                .as(r.bodyText())
                .contains(Long.toString(limit));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"/v1/audio/transcriptions", "/v1/files", "/v1/uploads/upload_abc/parts"})
    void aTwelveMegabyteUploadPassesUnderTheUploadLimitWithTheBodyLimitAtItsDefault(String path) throws Exception {
        start(Map.of("max-upload-size", "32MB"));
        byte[] body = multipart(TWELVE_MB, 1);

        RawHttp.Response declared = declared(proxy, path, "multipart/form-data; boundary=" + BOUNDARY, body);
        RawHttp.Response chunked = chunked(proxy, path, "multipart/form-data; boundary=" + BOUNDARY, body);

        assertThat(declared.status()).as(declared.bodyText()).isEqualTo(200);
        assertThat(chunked.status()).as(chunked.bodyText()).isEqualTo(200);
        assertThat(calls).hasSize(2);
        for (StubUpstream.RecordedRequest call : calls) {
            assertThat(call.target()).isEqualTo(path);
            assertThat(call.header("content-type")).contains("multipart/form-data; boundary=" + BOUNDARY);
            assertThat(call.body()).as("the upload, byte for byte").isEqualTo(body);
        }
    }

    @Test
    void theUploadLimitDefaultsTo512MegabytesSoATwelveMegabyteUploadPassesWithNoSetting() {
        start(Map.of());
        byte[] body = multipart(TWELVE_MB, 2);

        RawHttp.Response r =
                chunked(proxy, "/v1/audio/transcriptions", "multipart/form-data; boundary=" + BOUNDARY, body);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(calls).singleElement().satisfies(c -> assertThat(c.body()).isEqualTo(body));
        // Over 512 MiB declared: refused before a byte of it is read.
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(
                    "/v1/files",
                    "multipart/form-data; boundary=" + BOUNDARY,
                    "Content-Length: " + (512L * 1024 * 1024 + 1) + "\r\n"));
            assertTooLarge(c.readResponse(), 512L * 1024 * 1024);
        }
        assertThat(calls).hasSize(1);
    }

    /**
     * With the upload limit raised, a JSON body of the same size is still held to max-body-size: refused 413 before
     * it is parsed, whether it is declared or chunked, with quotas on (which read a chat body for the estimate) or
     * not, on /v1 and on the simple route; the upstream is never called.
     */
    @ParameterizedTest(name = "{0}, quotas {1}")
    @CsvSource({"/v1/chat/completions,false", "/v1/chat/completions,true", "/v1/completions,true", "/,false", "/,true"})
    void aTwelveMegabyteJsonBodyIsRefused413UnparsedWhateverTheUploadLimit(String path, boolean quotas) {
        Map<String, String> settings = new HashMap<>(Map.of("max-upload-size", "512MB"));
        if (quotas) {
            settings.put("policies.anonymous.tokens-per-minute", "1000000000");
        }
        start(settings);
        byte[] body = unparsableChat(TWELVE_MB);

        for (String type : new String[] {"application/json", "multipart/form-data; boundary=" + BOUNDARY}) {
            if (path.equals("/") || path.equals("/v1/chat/completions")) {
                if (!type.equals("application/json")) {
                    continue; // a JSON route refuses any other type (415)
                }
            }
            RawHttp.Response declared = declared(proxy, path, type, body);
            RawHttp.Response chunked = chunked(proxy, path, type, body);
            if (path.equals("/")) {
                assertThat(assertSeedError(declared, 413, "Payload Too Large")).contains("10485760");
                assertThat(assertSeedError(chunked, 413, "Payload Too Large")).contains("10485760");
            } else {
                // On a route whose body is JSON (completions), even one declared multipart is read as JSON.
                assertTooLarge(declared, 10L * 1024 * 1024);
                assertTooLarge(chunked, 10L * 1024 * 1024);
            }
        }
        assertThat(calls).as("no upstream call").isEmpty();
    }

    /** The upload limit is counted as the body passes: chunked, it is enforced with no length declared. */
    @ParameterizedTest(name = "{0} container, {1} client")
    @CsvSource({"tomcat,JDK", "tomcat,JETTY", "jetty,JETTY", "jetty,JDK"})
    void aChunkedUploadOverTheUploadLimitIs413AndItsUpstreamCallIsAborted(String container, String client)
            throws Exception {
        int uploadLimit = 4 * 1024 * 1024;
        reading = BodyReadingUpstream.start();
        ProxyConfig config = config(
                Map.of("max-body-size", "1MB", "max-upload-size", "4MB", "upstream-client", client), reading.baseUrl());
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
        byte[] body = multipart(uploadLimit + 2 * 1024 * 1024, 3);

        RawHttp.Response r = chunked(proxy, "/v1/files", "multipart/form-data; boundary=" + BOUNDARY, body);

        assertTooLarge(r, uploadLimit);
        Received received = reading.received.get(30, TimeUnit.SECONDS);
        assertThat(received.complete()).as("the upstream's request was cut off").isFalse();
        assertThat(received.body().length)
                .as("past the body limit, within the upload limit")
                .isGreaterThan(1024 * 1024)
                .isLessThanOrEqualTo(uploadLimit);
    }

    @Test
    void aChunkedUploadOverTheBodyLimitAndUnderTheUploadLimitPasses() {
        start(Map.of("max-body-size", "1MB", "max-upload-size", "4MB"));
        byte[] body = multipart(3 * 1024 * 1024, 4);

        RawHttp.Response r = chunked(proxy, "/v1/files", "application/octet-stream", body);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(calls).singleElement().satisfies(c -> assertThat(c.body()).isEqualTo(body));
    }

    /** The admin API keeps its own 64 KiB, far below both limits: an upload type does not raise it. */
    @Test
    void theAdminApiKeepsItsOwnSmallerLimit() {
        start(Map.of(
                "max-upload-size",
                "512MB",
                "admin.enabled",
                "true",
                "admin.tokens",
                ProxyKeys.hash(ADMIN_TOKEN),
                "pass-through-routes",
                ROUTES));
        byte[] body = new byte[128 * 1024];
        Arrays.fill(body, (byte) ' ');
        body[0] = '{';
        body[body.length - 1] = '}';
        for (String framing :
                new String[] {"Content-Length: " + body.length + "\r\n", "Transfer-Encoding: chunked\r\n"}) {
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                c.write("POST /admin/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + ADMIN_TOKEN
                        + "\r\nContent-Type: application/json\r\n" + framing + "\r\n");
                try {
                    c.write(framing.startsWith("Transfer") ? RawHttp.chunked(body, 16 * 1024) : body);
                } catch (java.io.UncheckedIOException refusedMidway) {
                    // the answer is read below
                }
                RawHttp.Response r = c.readResponse();
                assertThat(r.status()).as(framing + r.bodyText()).isEqualTo(413);
                assertThat(r.bodyText()).contains("65536");
            }
        }
    }
}
