package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.EngineHttp;
import io.github.openaiproxy.core.testing.EngineServer;
import io.github.openaiproxy.core.testing.Upstream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Request size and content type in process: 413 for a declared length over the limit, 415 for bodies
 * that are not JSON, bodies without a content type accepted, and every error JSON. Chunked bodies, a huge
 * declared length, Expect: 100-continue, odd request heads and keep-alive after an error are framing,
 * tested over HTTP in servlet-adapter's RequestLimitsHttpTest.
 */
class ProxyEngineRequestLimitsTableTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final int LIMIT = 1024;

    static EngineServer proxy;

    @BeforeAll
    static void start() {
        proxy = EngineServer.of(Upstream.config(upstream).maxBodySize(LIMIT).build());
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

    @ParameterizedTest(name = "{0}")
    @MethodSource("jsonRoutes")
    void aDeclaredLengthOverTheLimitIs413(String path, String style) {
        HttpResponse<String> r = EngineHttp.send(
                "POST", proxy.uri(path), bodyOfSize(path, LIMIT + 1), "Content-Type", "application/json");

        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 413, "Payload Too Large")).contains("1024 bytes");
        } else {
            assertOpenAiError(r, 413, "invalid_request_error", "request_too_large");
        }
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jsonRoutes")
    void aBodyOfExactlyTheLimitIsAccepted(String path, String style) {
        byte[] body = bodyOfSize(path, LIMIT);
        HttpResponse<String> r = EngineHttp.send("POST", proxy.uri(path), body, "Content-Type", "application/json");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        if (style.equals("openai")) {
            assertThat(sent.getBody()).isEqualTo(body);
        }
    }

    static Stream<Arguments> notJson() {
        List<Arguments> all = new ArrayList<>();
        for (String contentType : List.of(
                "text/plain",
                "text/plain; charset=utf-8",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=xyz",
                "application/xml",
                "text/json",
                "application/octet-stream")) {
            for (Arguments route : jsonRoutes().toList()) {
                all.add(arguments(route.get()[0], route.get()[1], contentType));
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} as {2}")
    @MethodSource("notJson")
    void aBodyThatIsNotDeclaredAsJsonIs415(String path, String style, String contentType) {
        HttpResponse<String> r = EngineHttp.call(
                "POST",
                proxy.uri(path),
                new String(bodyOfSize(path, 100), StandardCharsets.UTF_8),
                "Content-Type",
                contentType);

        String message = style.equals("seed")
                ? assertSeedError(r, 415, "Unsupported Media Type")
                : assertOpenAiError(r, 415, "invalid_request_error", "unsupported_media_type")
                        .path("message")
                        .textValue();
        assertThat(message).contains("application/json").contains(contentType);
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jsonRoutes")
    void aCompressedBodyIs415WhereTheProxyReadsItAndRelayedAsSentOnPassThrough(String path, String style)
            throws Exception {
        byte[] plain = bodyOfSize(path, 100);
        java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write(plain);
        }
        byte[] body = gz.toByteArray();
        HttpResponse<String> r = EngineHttp.send(
                "POST", proxy.uri(path), body, "Content-Type", "application/json", "Content-Encoding", "gzip");

        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 415, "Unsupported Media Type")).contains("Content-Encoding gzip");
            Upstream.assertNoCalls(upstream);
        } else {
            // Byte-faithful: the upstream gets the compressed body and says whether it takes it.
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            LoggedRequest sent = Upstream.onlyRequest(upstream);
            assertThat(sent.getHeader("Content-Encoding")).isEqualTo("gzip");
            assertThat(sent.getBody()).as("WireMock gunzips what it logs").isEqualTo(plain);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "application/json",
                "application/json; charset=utf-8",
                "Application/JSON;charset=UTF-8",
                "application/merge-patch+json"
            })
    void jsonMediaTypesAreAccepted(String contentType) {
        for (String path : List.of("/", "/v1/chat/completions")) {
            upstream.resetRequests();
            HttpResponse<String> r = EngineHttp.call(
                    "POST",
                    proxy.uri(path),
                    new String(bodyOfSize(path, 100), StandardCharsets.UTF_8),
                    "Content-Type",
                    contentType);

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(Upstream.onlyRequest(upstream).getUrl()).isEqualTo("/v1/chat/completions");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jsonRoutes")
    void aBodyWithoutContentTypeIsAccepted(String path, String style) {
        byte[] body = bodyOfSize(path, 200);
        HttpResponse<String> r = EngineHttp.send("POST", proxy.uri(path), body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"ok\":true}");
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getHeader("Content-Type")).isEqualTo("application/json");
        if (style.equals("openai")) {
            assertThat(sent.getBody()).isEqualTo(body);
        }
    }

    /** Requests that each get one of the proxy's own errors. */
    static Stream<Arguments> badRequests() {
        return Stream.of(
                arguments("POST", "/", "not json", "application/json", 400),
                arguments("POST", "/", "{\"messages\":7}", "application/json", 400),
                arguments("POST", "/images/generations", "{\"prompt\":\"p\",\"n\":5}", "application/json", 400),
                arguments("POST", "/", "{\"messages\":[]}", "text/plain", 415),
                arguments("POST", "/v1/embeddings", "x".repeat(2 * LIMIT), "application/json", 413),
                arguments("GET", "/nowhere", null, null, 404),
                arguments("GET", "/v1/nowhere", null, null, 404),
                arguments("GET", "/", null, null, 405),
                arguments("FOO", "/v1/models", null, null, 405),
                arguments("DELETE", "/v1/chat/completions", null, null, 405),
                arguments("POST", "/v1/models", "{}", "application/json", 405));
    }

    @ParameterizedTest(name = "{0} {1} -> {4}")
    @MethodSource("badRequests")
    void everyErrorIsJsonWithItsStatusAndNoStackTrace(
            String method, String path, String body, String contentType, int status) {
        HttpResponse<String> r = contentType == null
                ? EngineHttp.call(method, proxy.uri(path), body)
                : EngineHttp.call(method, proxy.uri(path), body, "Content-Type", contentType);

        assertJsonError(r, status);
        assertThat(r.headers().firstValue("Content-Length"))
                .contains(Integer.toString(r.body().getBytes(StandardCharsets.UTF_8).length));
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void theLimitIsConfigurable() {
        try (EngineServer roomy = EngineServer.of(ProxyConfig.builder()
                .apiKey(Upstream.SERVER_KEY)
                .upstream(Upstream.upstreamConfig(upstream))
                .maxBodySize(8 * LIMIT)
                .build())) {
            byte[] body = bodyOfSize("/v1/embeddings", 4 * LIMIT);
            HttpResponse<String> r =
                    EngineHttp.send("POST", roomy.uri("/v1/embeddings"), body, "Content-Type", "application/json");

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(Upstream.onlyRequest(upstream).getBody()).isEqualTo(body);
        }
    }
}
