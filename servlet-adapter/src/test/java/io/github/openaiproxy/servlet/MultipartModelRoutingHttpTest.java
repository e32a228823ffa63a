package io.github.openaiproxy.servlet;

import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.BodyReadingUpstream;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.Received;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
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
import org.junit.jupiter.params.provider.ValueSource;

/**
 * With named upstreams, a multipart upload whose {@code model} field comes before its file (the Node and Python SDKs'
 * order) is routed by that model as a JSON body is, and streams: the proxy holds at most its first bytes, and the
 * upstream gets the client's bytes unchanged (but for the model an alias renames). One whose file comes first
 * (openai-java's order, {@code curl -F file=@... -F model=...}) is read on to its model (spooled past 64 KiB, see
 * {@link MultipartSpoolHttpTest}) and routed by it; one whose part headers or model are oversized goes to the default.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MultipartModelRoutingHttpTest {
    private static final String B = UploadSizeLimitHttpTest.BOUNDARY;
    private static final String TYPE = "multipart/form-data; boundary=" + B;
    private static final String KEY = "sk-named-default-0123456789abcdefghij";
    private static final byte[] DONE = "{\"text\":\"done\"}".getBytes(StandardCharsets.UTF_8);

    private final List<StubUpstream.RecordedRequest> defaultCalls = new CopyOnWriteArrayList<>();
    private final List<StubUpstream.RecordedRequest> speechCalls = new CopyOnWriteArrayList<>();
    private StubUpstream primary;
    private StubUpstream speech;
    private BodyReadingUpstream reading;
    private ProxyServer proxy;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        for (AutoCloseable c : new AutoCloseable[] {primary, speech, reading}) {
            if (c != null) {
                c.close();
            }
        }
    }

    private void upstreams() {
        primary = StubUpstream.start(ex -> {
            defaultCalls.add(ex.request());
            ex.respond(200, "application/json", DONE);
        });
        speech = StubUpstream.start(ex -> {
            speechCalls.add(ex.request());
            ex.respond(200, "application/json", DONE);
        });
    }

    /** A configured default upstream at {@code defaultUrl}, and {@code speech} serving whisper-1. */
    private void start(String defaultUrl, String... more) {
        proxy = TomcatProxy.servlet(settings(defaultUrl, more));
    }

    private io.github.openaiproxy.core.ProxyConfig settings(String defaultUrl, String... more) {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.openai.base-url", defaultUrl);
        s.put("upstreams.openai.keys", KEY);
        s.put("upstreams.speech.kind", "compatible");
        s.put("upstreams.speech.base-url", speech.baseUrl().toString());
        s.put("upstreams.speech.models", "whisper-1");
        s.put("pass-through-routes", UploadSizeLimitHttpTest.ROUTES);
        for (int i = 0; i < more.length; i += 2) {
            s.put(more[i], more[i + 1]);
        }
        return ProxySettings.from(s).toConfig();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] random(int size, long seed) {
        byte[] out = new byte[size];
        new Random(seed).nextBytes(out);
        return out;
    }

    private static byte[] field(String name, String value) {
        return ascii("--" + B + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n");
    }

    private static byte[] file(byte[] content) {
        return concat(
                ascii("--" + B + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.mp3\"\r\n"
                        + "Content-Type: audio/mpeg\r\n\r\n"),
                content,
                ascii("\r\n"));
    }

    private static byte[] end() {
        return ascii("--" + B + "--\r\n");
    }

    private static String head(String type, boolean declared, int length) {
        return "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type + "\r\n"
                + (declared ? "Content-Length: " + length : "Transfer-Encoding: chunked") + "\r\n\r\n";
    }

    private RawHttp.Response upload(byte[] body, String type, boolean declared) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(type, declared, body.length));
            if (declared) {
                c.write(body);
            } else {
                c.write(RawHttp.chunked(body, 16 * 1024));
            }
            return c.readResponse();
        }
    }

    /** The Node SDK's order: its text fields, then the file. Routed by the model, byte for byte, both clients. */
    @ParameterizedTest(name = "{0} client")
    @ValueSource(strings = {"JDK", "JETTY"})
    void aModelBeforeTheFileRoutesTheUploadByItsModel(String client) {
        upstreams();
        start(primary.baseUrl().toString(), "upstream-client", client);
        byte[] body =
                concat(field("model", "whisper-1"), field("language", "en"), file(random(2 * 1024 * 1024, 1)), end());

        RawHttp.Response declared = upload(body, TYPE, true);
        RawHttp.Response chunked = upload(body, TYPE, false);

        for (RawHttp.Response r : List.of(declared, chunked)) {
            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
            assertThat(r.header("OpenAI-Proxy-Upstream")).contains("speech");
            assertThat(r.header("OpenAI-Proxy-Attempts")).contains("speech 200");
        }
        assertThat(defaultCalls).isEmpty();
        assertThat(speechCalls).hasSize(2).allSatisfy(c -> {
            assertThat(c.body()).as("the upload, byte for byte").isEqualTo(body);
            assertThat(c.header("Content-Type")).contains(TYPE);
            assertThat(c.header("Authorization"))
                    .as("no client credential, no default key")
                    .isEmpty();
        });
        assertThat(speechCalls.get(0).header("Content-Length")).contains(Integer.toString(body.length));
    }

    /**
     * openai-java's order (and curl's, as usually written): the file first. The proxy reads on to the model after it
     * and routes by it; before, such an upload went to the default upstream, which did not serve the model.
     */
    @Test
    void aFileBeforeTheModelIsRoutedByTheModelAfterIt() {
        upstreams();
        start(primary.baseUrl().toString());
        byte[] body = concat(file(random(100 * 1024, 2)), field("model", "whisper-1"), end());

        RawHttp.Response r = upload(body, TYPE, true);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("speech");
        assertThat(defaultCalls).isEmpty();
        assertThat(speechCalls).singleElement().satisfies(c -> {
            assertThat(c.body()).isEqualTo(body);
            assertThat(c.header("Authorization")).as("no default key").isEmpty();
        });
    }

    /** A 1 MB preamble before the model: read on past 64 KiB to the model, and routed by it, byte for byte. */
    @Test
    void anOversizedPreambleIsReadOnToTheModel() {
        upstreams();
        start(primary.baseUrl().toString());
        byte[] mb = new byte[1024 * 1024];
        Arrays.fill(mb, (byte) 'a');
        byte[] body = concat(mb, ascii("\r\n"), field("model", "whisper-1"), file(random(1024 * 1024, 7)), end());

        RawHttp.Response r = upload(body, TYPE, false);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(defaultCalls).isEmpty();
        assertThat(speechCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(body));
    }

    /** An alias renames the model field as it does a JSON body's, the Content-Length following; the rest unchanged. */
    @ParameterizedTest(name = "{0} client")
    @ValueSource(strings = {"JDK", "JETTY"})
    void anAliasRenamesTheModelFieldAndTheLengthFollows(String client) {
        upstreams();
        start(
                primary.baseUrl().toString(),
                "upstreams.speech.aliases",
                "whisper-1=whisper-large-v3",
                "upstream-client",
                client);
        byte[] audio = random(300 * 1024, 3);
        byte[] body = concat(field("model", "whisper-1"), file(audio), end());
        byte[] renamed = concat(field("model", "whisper-large-v3"), file(audio), end());

        RawHttp.Response declared = upload(body, TYPE, true);
        RawHttp.Response chunked = upload(body, TYPE, false);

        assertThat(declared.status()).as(declared.bodyText()).isEqualTo(200);
        assertThat(chunked.status()).as(chunked.bodyText()).isEqualTo(200);
        assertThat(speechCalls).hasSize(2).allSatisfy(c -> assertThat(c.body()).isEqualTo(renamed));
        assertThat(speechCalls.get(0).header("Content-Length")).contains(Integer.toString(renamed.length));
        assertThat(defaultCalls).isEmpty();
    }

    /**
     * Without a configured default, an unrouted model goes to the default of api-key / base-url, the held bytes first;
     * a routed one to its upstream.
     */
    @Test
    void withTheImplicitDefaultAnUnroutedModelGoesThereAndARoutedOneToItsUpstream() {
        upstreams();
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "api-key",
                        KEY,
                        "base-url",
                        primary.baseUrl().toString(),
                        "upstreams.speech.kind",
                        "compatible",
                        "upstreams.speech.base-url",
                        speech.baseUrl().toString(),
                        "upstreams.speech.models",
                        "whisper-1",
                        "pass-through-routes",
                        UploadSizeLimitHttpTest.ROUTES))
                .toConfig());
        byte[] other = concat(field("model", "gpt-4o-transcribe"), file(random(200 * 1024, 4)), end());
        byte[] routed = concat(field("model", "whisper-1"), file(random(200 * 1024, 5)), end());

        RawHttp.Response r1 = upload(other, TYPE, true);
        RawHttp.Response r2 = upload(routed, TYPE, false);

        assertThat(r1.status()).as(r1.bodyText()).isEqualTo(200);
        assertThat(r2.status()).as(r2.bodyText()).isEqualTo(200);
        assertThat(r2.header("OpenAI-Proxy-Upstream")).contains("speech");
        assertThat(defaultCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(other));
        assertThat(speechCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(routed));
    }

    /** No boundary: no server can read the parts, nor the proxy the model. 400, and no upstream is called. */
    @ParameterizedTest
    @ValueSource(strings = {"multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; charset=x"})
    void aMultipartBodyWithoutABoundaryIs400(String type) {
        upstreams();
        start(primary.baseUrl().toString());
        byte[] body = concat(field("model", "whisper-1"), file(random(1024, 6)), end());

        RawHttp.Response r = upload(body, type, true);

        assertOpenAiError(r, 400, "invalid_request_error", "invalid_request");
        assertThat(defaultCalls).isEmpty();
        assertThat(speechCalls).isEmpty();
    }

    /**
     * Bodies built to make the proxy hold more than its bound: a 1 MB part header, a 100 KB model field. Each goes to the default upstream, which has their first bytes while the client still holds the rest
     * (the proxy never held them whole), and gets them byte for byte; the routed upstream is never called.
     */
    @ParameterizedTest
    @ValueSource(strings = {"header", "model"})
    void anOversizedPreambleHeaderOrModelStreamsToTheDefaultUpstream(String hostile) throws Exception {
        upstreams();
        reading = BodyReadingUpstream.start();
        start(reading.baseUrl().toString());
        byte[] mb = new byte[1024 * 1024];
        Arrays.fill(mb, (byte) 'a');
        byte[] start = switch (hostile) {
            case "header" ->
                concat(
                        ascii("--" + B + "\r\nContent-Disposition: form-data; name=\"model\"\r\nX-Pad: "),
                        mb,
                        ascii("\r\n\r\nwhisper-1\r\n"));
            default -> field("model", "whisper-1" + "x".repeat(100 * 1024));
        };
        byte[] body = concat(start, file(random(1024 * 1024, 7)), end());
        int first = start.length + 64 * 1024;

        RawHttp.Response r;
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(head(TYPE, true, body.length));
            c.write(Arrays.copyOfRange(body, 0, first));
            assertThat(reading.firstBytes.await(10, TimeUnit.SECONDS))
                    .as("the upstream got the first bytes while the client still held the rest")
                    .isTrue();
            c.write(Arrays.copyOfRange(body, first, body.length));
            r = c.readResponse();
        }

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.header("OpenAI-Proxy-Upstream")).contains("openai");
        Received received = reading.received.get(30, TimeUnit.SECONDS);
        assertThat(received.complete()).isTrue();
        assertThat(received.body()).as("byte for byte").isEqualTo(body);
        assertThat(speechCalls).isEmpty();
    }

    /**
     * A quota refuses the upload after the routing step held its first bytes (the limits run after routing): the client,
     * still sending the rest, reads a clean 429 on either container, and nothing goes upstream.
     */
    @ParameterizedTest(name = "{0}, declared length {1}")
    @org.junit.jupiter.params.provider.CsvSource({"tomcat,true", "tomcat,false", "jetty,true", "jetty,false"})
    void anUploadRefusedAfterItsModelWasReadIsStillReadToItsEnd(String container, boolean declared) {
        upstreams();
        io.github.openaiproxy.core.ProxyConfig config =
                settings(primary.baseUrl().toString(), "policies.anonymous.requests-per-minute", "1");
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
        byte[] body = concat(field("model", "whisper-1"), file(random(1536 * 1024, 8)), end());

        RawHttp.Response first = upload(body, TYPE, declared);
        RawHttp.Response refused = upload(body, TYPE, declared);

        assertThat(first.status()).as(first.bodyText()).isEqualTo(200);
        assertOpenAiError(refused, 429, "requests", "rate_limit_exceeded");
        assertThat(speechCalls).hasSize(1);
    }

    /**
     * What is left of an upload refused after its start was held is read and dropped before the exchange ends, as an
     * upload refused unread is: the connection then serves the client's next request. Before, the container closed
     * it with the rest unread, and a client still writing met a reset instead of the 429.
     */
    @ParameterizedTest(name = "{0}, Expect: 100-continue {1}")
    @org.junit.jupiter.params.provider.CsvSource({"tomcat,false", "tomcat,true", "jetty,false", "jetty,true"})
    void theRestOfARefusedHeldUploadIsReadSoItsConnectionServesTheNextRequest(String container, boolean expect) {
        upstreams();
        io.github.openaiproxy.core.ProxyConfig config =
                settings(primary.baseUrl().toString(), "policies.anonymous.requests-per-minute", "1");
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
        byte[] body = concat(field("model", "whisper-1"), file(random(1024 * 1024, 9)), end());
        assertThat(upload(body, TYPE, true).status()).isEqualTo(200); // the minute's one request

        try (RawHttp c = RawHttp.connect(proxy.port())) {
            String head = head(TYPE, true, body.length);
            if (expect) {
                // Asked for the body (the proxy reads its start to route it), the client sends all of it.
                c.write(head.substring(0, head.length() - 2) + "Expect: 100-continue\r\n\r\n");
                assertThat(c.readResponse().status()).isEqualTo(100);
            } else {
                c.write(head);
            }
            c.write(body);
            assertOpenAiError(c.readResponse(), 429, "requests", "rate_limit_exceeded");

            if (expect && container.equals("tomcat")) {
                // Tomcat closes a connection whose Expect: 100-continue request got a non-2xx answer, by design:
                // after the body was read, with an end of stream, not a reset.
                assertThat(c.endsCleanly()).isTrue();
            } else {
                c.write("GET /v1/no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                RawHttp.Response next = c.readResponse();

                assertThat(next.status()).as("an answer on the same connection").isEqualTo(404);
            }
        }
        assertThat(speechCalls).hasSize(1);
    }

    /** A boundary never closed: the body ends inside the model field. The default upstream gets it as sent. */
    @Test
    void aBoundaryNeverClosedGoesAsSentToTheDefaultUpstream() {
        upstreams();
        start(primary.baseUrl().toString());
        byte[] body = ascii("--" + B + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1");

        RawHttp.Response r = upload(body, TYPE, true);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(speechCalls).isEmpty();
        assertThat(defaultCalls)
                .singleElement()
                .satisfies(c -> assertThat(c.body()).isEqualTo(body));
    }
}
