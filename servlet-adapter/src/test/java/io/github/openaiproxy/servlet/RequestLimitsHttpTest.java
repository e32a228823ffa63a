package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertJsonError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.ProxyAssertions;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request size over HTTP where framing matters: a huge declared length refused before the body arrives,
 * chunked bodies over and under the limit, Expect: 100-continue, odd request heads, and a connection kept
 * usable after an error. The size and content-type table runs in process in core's
 * ProxyEngineRequestLimitsTableTest.
 */
class RequestLimitsHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final int LIMIT = 1024;

    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        proxy = TomcatProxy.servlet(Upstream.config(upstream).maxBodySize(LIMIT).build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"ok\":true}")));
    }

    /** The JSON routes: path and error style. */
    static Stream<Arguments> jsonRoutes() {
        return Stream.of(
                arguments("/", "seed"),
                arguments("/images/generations", "seed"),
                arguments("/generate-image", "seed"),
                arguments("/v1/chat/completions", "openai"),
                arguments("/v1/images/generations", "openai"),
                arguments("/v1/embeddings", "openai"),
                arguments("/v1/responses", "openai"));
    }

    /** A valid body for the route, padded with spaces to exactly {@code size} bytes. */
    static byte[] bodyOfSize(String path, int size) {
        String json = path.startsWith("/images") || path.equals("/generate-image")
                ? "{\"prompt\":\"a cat\"}"
                : "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"input\":\"x\"}";
        byte[] out = new byte[size];
        Arrays.fill(out, (byte) ' ');
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(b, 0, out, 0, b.length);
        return out;
    }

    private static void assertTooLarge(RawHttp.Response r, String style) {
        assertThat(r.header("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 413, "Payload Too Large")).contains(Integer.toString(LIMIT));
        } else {
            assertThat(assertOpenAiError(r, 413, "invalid_request_error", "request_too_large")
                            .path("message")
                            .textValue())
                    .contains(Integer.toString(LIMIT));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jsonRoutes")
    void aHugeDeclaredLengthIsRefusedBeforeTheBodyArrives(String path, String style) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 104857600\r\n\r\n{\"messages\":[");

            // Only 13 of 100 MiB were sent: the answer must not wait for the rest.
            assertTooLarge(c.readResponse(), style);
        }
        Upstream.assertNoCalls(upstream);
    }

    /**
     * A client still sending a body declared over the limit (as the OpenAI Node SDK sends an upload: Node's fetch
     * writes a multipart body in pieces) gets the 413 first, then finishes sending and sees the connection end
     * cleanly. Tomcat closes the connection after a 413, and for an async request it did so without reading the
     * rest of the body: now and then the client's next write met a reset, which Node's fetch reports instead of
     * the answer (and the SDK, seeing a connection error, sends the upload again). The timing varies, so the
     * exchange is repeated.
     */
    @Test
    void aDeclaredBodyOverTheLimitStillBeingSentGets413AndAConnectionThatEndsCleanly() throws InterruptedException {
        byte[] body = new byte[64 * LIMIT];
        Arrays.fill(body, (byte) ' ');
        for (int i = 0; i < 100; i++) {
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                ByteArrayOutputStream first = new ByteArrayOutputStream();
                first.writeBytes(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                first.write(body, 0, 48 * LIMIT);
                c.write(first.toByteArray());
                RawHttp.Response answer = null;
                if (i % 2 == 0) {
                    answer = c.readResponse(); // the rest after the answer
                } else {
                    Thread.sleep(2); // the rest while the answer is on its way
                }
                c.write(Arrays.copyOfRange(body, 48 * LIMIT, body.length));

                assertTooLarge(answer != null ? answer : c.readResponse(), "openai");
                assertThat(c.endsCleanly())
                        .as("exchange %d: the connection ended without more bytes", i)
                        .isTrue();
            }
        }
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jsonRoutes")
    void aChunkedBodyThatGrowsOverTheLimitIs413(String path, String style) {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            String head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n";
            // One write: Tomcat closes the connection after a 413, so writes after it may hit a broken pipe.
            ByteArrayOutputStream request = new ByteArrayOutputStream();
            request.writeBytes(head.getBytes(StandardCharsets.US_ASCII));
            request.writeBytes(RawHttp.chunked(bodyOfSize(path, 4 * LIMIT), 256));
            c.write(request.toByteArray());

            assertTooLarge(c.readResponse(), style);
        }
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void aChunkedBodyIsRefusedAsSoonAsItPassesTheLimitWithoutWaitingForItsEnd() {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            byte[] chunk = new byte[512];
            Arrays.fill(chunk, (byte) ' ');
            for (int i = 0; i < 3; i++) {
                c.writeChunk(chunk);
            }

            // No last chunk: a proxy that waited for the whole body would never answer.
            assertTooLarge(c.readResponse(), "openai");
        }
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void aChunkedBodyUnderTheLimitReachesTheUpstreamWhole() {
        byte[] body = bodyOfSize("/v1/embeddings", 900);
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
            for (int i = 0; i < body.length; i += 100) {
                c.writeChunk(Arrays.copyOfRange(body, i, Math.min(body.length, i + 100)));
            }
            c.write("0\r\n\r\n");

            RawHttp.Response r = c.readResponse();
            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        }
        assertThat(Upstream.onlyRequest(upstream).getBody()).isEqualTo(body);
    }

    @Test
    void expectContinueWorksUnderTheLimitAndIsAnsweredWith413OverIt() {
        byte[] small = bodyOfSize("/v1/chat/completions", 800);
        HttpResponse<String> ok = Http.send(Http.request(proxy.uri("/v1/chat/completions"))
                .expectContinue(true)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(small))
                .build());
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getBody()).isEqualTo(small);

        upstream.resetRequests();
        HttpResponse<String> tooLarge = Http.send(Http.request(proxy.uri("/v1/chat/completions"))
                .expectContinue(true)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bodyOfSize("/v1/chat/completions", 5 * LIMIT)))
                .build());
        assertOpenAiError(tooLarge, 413, "invalid_request_error", "request_too_large");
        Upstream.assertNoCalls(upstream);
    }

    /** Odd but well-formed HTTP/1.1 requests: head lines after the request line, and a body. */
    static Stream<Arguments> oddRequests() {
        String longKey = "k".repeat(4000);
        String manyHeaders = String.join(", ", java.util.Collections.nCopies(300, "x-stainless-arch"));
        return Stream.of(
                arguments("POST /", "Content-Type: application/json; charset=bogus", "{\"messages\":[]}"),
                arguments("POST /", "Content-Type: ;", "{\"messages\":[]}"),
                arguments("POST /", "Content-Type: application/json", ""),
                arguments("POST /v1/chat/completions", "Content-Type: application/json", ""),
                arguments(
                        "POST /images/generations", "Content-Type: application/json\r\nx-openai-key: " + longKey, "{}"),
                arguments("GET /v1/models", "Origin: http://[::1]:5173", ""),
                arguments("GET /v1/models", "Origin: not a url", ""),
                arguments(
                        "OPTIONS /v1/models",
                        "Origin: http://localhost:5173\r\nAccess-Control-Request-Method: GET\r\n"
                                + "Access-Control-Request-Headers: " + manyHeaders,
                        ""),
                arguments("OPTIONS /v1/models", "Origin: http://localhost:5173\r\nAccess-Control-Request-Method: ", ""),
                arguments("GET /v1/models?%zz=%%&a=\u00e9", "", ""),
                arguments("GET /v1/models/%zz", "", ""),
                arguments("GET /v1/models/" + "a".repeat(300), "", ""),
                arguments("POST /v1/embeddings?x=1&x=2", "Content-Type: application/json", "{\"input\":\"x\"}"),
                arguments("PROPFIND /", "", ""),
                arguments("POST /", "Content-Type: application/json\r\nContent-Encoding: gzip", "{\"messages\":[]}"));
    }

    @ParameterizedTest(name = "{0} [{1}]")
    @MethodSource("oddRequests")
    void oddRequestsNeverCauseAServerErrorOrAStackTrace(String requestLine, String headers, String body) {
        String head = requestLine + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + (headers.isEmpty() ? "" : headers + "\r\n")
                + (body.isEmpty() && requestLine.startsWith("POST") ? "Content-Length: 0\r\n" : "");

        RawHttp.Response r = RawHttp.exchange(proxy.port(), head, body.getBytes(StandardCharsets.UTF_8));

        assertThat(r.status()).as(r.bodyText()).isBetween(200, 499);
        ProxyAssertions.assertNoStackTrace(r.bodyText());
    }

    @Test
    void errorsOnOneConnectionLeaveItUsableForTheNext() {
        // Keep-alive: an error answered without reading the body must not poison the connection.
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            String ok = "{\"model\":\"m\",\"input\":\"x\"}";
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                    + "Content-Length: 5\r\n\r\nhello");
            assertJsonError(c.readResponse(), 415);
            c.write("GET /v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            assertJsonError(c.readResponse(), 404);
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + ok.length() + "\r\n\r\n" + ok);
            RawHttp.Response r = c.readResponse();
            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        }
        assertThat(Upstream.onlyRequest(upstream).getBodyAsString()).isEqualTo("{\"model\":\"m\",\"input\":\"x\"}");
    }
}
