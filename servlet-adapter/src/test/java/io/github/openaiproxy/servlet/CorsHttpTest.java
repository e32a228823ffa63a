package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpHeaders;
import java.net.http.HttpResponse;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * CORS over HTTP where the container takes part: a stream to an allowed origin, and a same-origin request
 * (its origin is the one the container reports from the Host). The CORS table (preflights on every route,
 * every answer to an allowed origin, refused origins) runs in process in core's ProxyEngineCorsTableTest.
 */
class CorsHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String APP = "https://app.example.com";
    static final CorsConfig ALLOW_APP_AND_LOCALHOST = CorsConfig.builder()
            .allowedOrigins(List.of(APP))
            .allowedOriginPatterns(List.of("http://localhost:*"))
            .build();

    /** Default CORS: no cross-origin access. */
    static TomcatProxy closed;
    /** {@link #APP} and {@code http://localhost:*} allowed. */
    static TomcatProxy open;

    @BeforeAll
    static void start() {
        closed = TomcatProxy.servlet(Upstream.config(upstream).build());
        open = TomcatProxy.servlet(
                Upstream.config(upstream).cors(ALLOW_APP_AND_LOCALHOST).build());
    }

    @AfterAll
    static void stop() {
        closed.close();
        open.close();
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withHeader("x-request-id", "req_cors")
                        .withHeader("x-ratelimit-remaining-requests", "42")
                        .withBody("{\"ok\":true}")));
    }

    static HttpResponse<String> request(TomcatProxy proxy, String method, String path, String origin) {
        String body = method.equals("GET")
                ? null
                : path.contains("image")
                        ? "{\"prompt\":\"a cat\"}"
                        : "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        return body == null
                ? Http.call(method, proxy.uri(path), null, "Origin", origin)
                : Http.call(method, proxy.uri(path), body, "Origin", origin, "Content-Type", "application/json");
    }

    static List<String> tokens(HttpHeaders headers, String name) {
        return headers.allValues(name).stream()
                .flatMap(v -> Arrays.stream(v.split(",")))
                .map(s -> s.strip().toLowerCase(Locale.ROOT))
                .filter(s -> !s.isEmpty())
                .toList();
    }

    static void assertCorsHeadersFor(HttpResponse<String> r, String origin) {
        assertThat(r.headers().allValues("Access-Control-Allow-Origin"))
                .as("ACAO on %s", r.statusCode())
                .containsExactly(origin);
        assertThat(tokens(r.headers(), "Vary")).contains("origin");
        assertThat(tokens(r.headers(), "Access-Control-Expose-Headers"))
                .contains(
                        "x-request-id",
                        "openai-processing-ms",
                        "x-ratelimit-limit-requests",
                        "x-ratelimit-remaining-requests",
                        "x-ratelimit-remaining-tokens",
                        "x-ratelimit-reset-requests",
                        "retry-after");
    }

    @Test
    void aStreamToAnAllowedOriginCarriesTheCorsHeaders() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "text/event-stream")
                        .withHeader("x-request-id", "req_stream")
                        .withBody("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n")));

        for (String path : List.of("/", "/v1/chat/completions")) {
            HttpResponse<String> r = Http.call(
                    "POST",
                    open.uri(path),
                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
                    "Origin",
                    "http://localhost:5173",
                    "Content-Type",
                    "application/json");

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type"))
                    .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
            assertThat(r.body()).endsWith("data: [DONE]\n\n");
            assertCorsHeadersFor(r, "http://localhost:5173");
            assertThat(r.headers().firstValue("x-request-id")).contains("req_stream");
        }
    }

    /**
     * The session reply's ids are for the page that sent the chat: a browser lets a script on another origin read
     * a response header only when the answer exposes it, so they are exposed by default.
     */
    @Test
    void aSessionReplysMessageIdIsReadableByAPageOnAnAllowedOrigin() {
        upstream.stubFor(
                post("/v1/chat/completions")
                        .willReturn(
                                aResponse()
                                        .withStatus(200)
                                        .withHeader("Content-Type", "application/json")
                                        .withBody(
                                                "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}")));
        HttpResponse<String> created = Http.call("POST", open.uri("/sessions"), null, "Origin", APP);
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        String sessionId = created.body().replaceAll(".*\"sessionId\":\"([^\"]+)\".*", "$1");

        HttpResponse<String> r = Http.call(
                "POST",
                open.uri("/"),
                "{\"sessionId\":\"" + sessionId + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "Origin",
                APP,
                "Content-Type",
                "application/json");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertCorsHeadersFor(r, APP);
        assertThat(r.headers().firstValue("X-OpenAI-Proxy-Message-Id")).isPresent();
        assertThat(tokens(r.headers(), "Access-Control-Expose-Headers"))
                .contains(
                        "x-openai-proxy-message-id", "x-openai-proxy-message-timestamp", "x-openai-proxy-image-stored");
    }

    @Test
    void aSameOriginRequestPassesWhateverTheAllowedOrigins() {
        for (TomcatProxy proxy : new TomcatProxy[] {closed, open}) {
            upstream.resetRequests();
            HttpResponse<String> r = request(proxy, "POST", "/", proxy.origin());

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("{\"ok\":true}");
            assertThat(Upstream.requests(upstream)).hasSize(1);
        }
    }
}
