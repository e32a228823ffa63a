package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.testing.ProxyAssertions.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Bodies that do not fit in one buffer, both ways, and many exchanges at once: what the non-blocking
 * reader and writer must get right under real socket pressure.
 */
class BodyRelayHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    /** Default configuration: a 10 MiB request limit. */
    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        // No per-client cap: the concurrency test sends more calls at once than the default from one address.
        proxy = TomcatProxy.servlet(
                Upstream.config(upstream).maxConcurrentUpstreamCallsPerClient(0).build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    /** A b64_json image answer of about {@code size} bytes. */
    static byte[] imageAnswer(int size) {
        byte[] raw = new byte[size * 3 / 4];
        new Random(42).nextBytes(raw);
        return ("{\"created\":1,\"data\":[{\"b64_json\":\""
                        + Base64.getEncoder().encodeToString(raw) + "\"}]}")
                .getBytes(StandardCharsets.UTF_8);
    }

    @ParameterizedTest(name = "chunked upstream: {0}")
    @ValueSource(booleans = {false, true})
    void aLargeUpstreamAnswerArrivesByteForByte(boolean chunked) {
        byte[] answer = imageAnswer(4 * 1024 * 1024);
        ResponseDefinitionBuilder response = aResponse()
                .withStatus(200)
                .withHeader("Content-Type", "application/json")
                .withBody(answer);
        if (chunked) {
            response.withChunkedDribbleDelay(64, 300);
        }
        upstream.stubFor(post("/v1/images/generations").willReturn(response));

        for (String path : List.of("/v1/images/generations", "/images/generations")) {
            HttpResponse<byte[]> r = Http.sendForBytes(Http.request(proxy.uri(path))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"prompt\":\"a cat\",\"model\":\"dall-e-3\",\"response_format\":\"b64_json\"}"))
                    .build());

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).as("body of %s bytes", r.body().length).isEqualTo(answer);
        }
    }

    @Test
    void aLargeRequestBodyUnderTheDefaultLimitReachesTheUpstreamWhole() {
        upstream.stubFor(any(anyUrl()).willReturn(aResponse().withStatus(200).withBody("{\"ok\":true}")));
        byte[] image = new byte[6 * 1024 * 1024];
        new Random(7).nextBytes(image);
        String dataUrl = "data:image/png;base64," + Base64.getEncoder().encodeToString(image);
        String body =
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                        + "\"image_url\":{\"url\":\"" + dataUrl + "\"}}]}]}";
        assertThat(body.length()).isBetween(8 * 1024 * 1024, 10 * 1024 * 1024);

        HttpResponse<String> passThrough = Http.postJson(proxy.uri("/v1/chat/completions"), body);
        assertThat(passThrough.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getBody()).isEqualTo(body.getBytes(StandardCharsets.UTF_8));

        upstream.resetRequests();
        HttpResponse<String> simple = Http.postJson(proxy.uri("/"), body);
        assertThat(simple.statusCode()).isEqualTo(200);
        LoggedRequest normalized = Upstream.onlyRequest(upstream);
        assertThat(json(normalized.getBodyAsString())
                        .at("/messages/0/content/0/image_url/url")
                        .textValue())
                .isEqualTo(dataUrl);
    }

    @Test
    void concurrentExchangesEachGetTheirOwnAnswer() throws Exception {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withTransformers("response-template")
                        .withHeader("Content-Type", "application/json")
                        .withHeader("x-request-id", "{{jsonPath request.body '$.user'}}")
                        .withBody("{\"echo\":\"{{jsonPath request.body '$.user'}}\",\"pad\":\"" + "x".repeat(20_000)
                                + "\"}")));
        HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Http.TIMEOUT)
                .build();
        int n = 96;
        List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String user = "user-" + i;
            String path;
            String body;
            switch (i % 4) {
                case 0 -> {
                    path = "/v1/embeddings";
                    body = "{\"model\":\"m\",\"input\":\"x\",\"user\":\"" + user + "\"}";
                }
                case 1 -> {
                    path = "/";
                    body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"user\":\"" + user + "\"}";
                }
                case 2 -> {
                    path = "/images/generations";
                    body = "{\"prompt\":\"p\",\"user\":\"" + user + "\"}";
                }
                default -> {
                    path = "/v1/unknown/" + user;
                    body = "{}";
                }
            }
            calls.add(client.sendAsync(
                    Http.request(proxy.uri(path))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body))
                            .build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new))
                .get(Http.TIMEOUT.toSeconds() * 2, TimeUnit.SECONDS);

        for (int i = 0; i < n; i++) {
            HttpResponse<String> r = calls.get(i).join();
            String user = "user-" + i;
            if (i % 4 == 3) {
                assertThat(r.statusCode()).isEqualTo(404);
                assertThat(r.body()).contains(user);
            } else {
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                assertThat(json(r.body()).path("echo").textValue()).isEqualTo(user);
                assertThat(r.headers().firstValue("x-request-id")).contains(user);
            }
        }
        assertThat(Upstream.requests(upstream)).hasSize(n - n / 4);
    }

    @Test
    void aBodyTricklingInAFewBytesAtATimeIsReadWhole() throws Exception {
        upstream.stubFor(any(anyUrl()).willReturn(aResponse().withStatus(200).withBody("{\"ok\":true}")));
        byte[] body = "{\"model\":\"gpt-4o-mini\",\"input\":\"h\u00e9llo \u2713 trickle\",\"user\":\"u\"}"
                .getBytes(StandardCharsets.UTF_8);
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n");
            for (int i = 0; i < body.length; i += 3) {
                // Pacing only (each write is its own TCP segment), not synchronization.
                Thread.sleep(5);
                c.write(Arrays.copyOfRange(body, i, Math.min(body.length, i + 3)));
            }

            RawHttp.Response r = c.readResponse();
            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        }
        assertThat(Upstream.onlyRequest(upstream).getBody()).isEqualTo(body);
    }

    @Test
    void pipelinedRequestsOnOneConnectionAreAnsweredInOrder() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withTransformers("response-template")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"echo\":\"{{jsonPath request.body '$.user'}}\"}")));
        StringBuilder pipeline = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            String body = "{\"model\":\"m\",\"input\":\"x\",\"user\":\"p" + i + "\"}";
            pipeline.append("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
                    .append("Content-Length: ")
                    .append(body.length())
                    .append("\r\n\r\n")
                    .append(body);
        }
        pipeline.append("GET /v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write(pipeline.toString());

            for (int i = 0; i < 4; i++) {
                RawHttp.Response r = c.readResponse();
                assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("{\"echo\":\"p" + i + "\"}");
            }
            assertThat(c.readResponse().status()).isEqualTo(404);
        }
    }

    @Test
    void aClientThatBreaksOffWhileSendingDoesNotReachTheUpstreamNorHarmTheNext() throws Exception {
        upstream.stubFor(any(anyUrl()).willReturn(aResponse().withStatus(200).withBody("{\"ok\":true}")));
        for (String path : List.of("/", "/v1/chat/completions")) {
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                c.write("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"messages\":[{\"role\":\"user\",");
            }
        }

        // The proxy is still healthy, and the broken requests never went upstream.
        HttpResponse<String> next = Http.postJson(proxy.uri("/v1/chat/completions"), "{\"model\":\"m\"}");
        assertThat(next.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getBodyAsString()).isEqualTo("{\"model\":\"m\"}");
    }
}
