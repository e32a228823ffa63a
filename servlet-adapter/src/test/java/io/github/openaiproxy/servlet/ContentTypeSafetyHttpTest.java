package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Nothing the proxy sends may be read by a browser as something else: every answer carries
 * {@code X-Content-Type-Options: nosniff}, and the simple routes, which promise JSON or an event stream,
 * turn a successful upstream answer of another type (a gateway's HTML page) into a 502.
 */
class ContentTypeSafetyHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String APP = "https://app.example.com";
    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static final String STREAMED_CHAT = "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static final String PAGE = "<html><script>alert(document.domain)</script></html>";

    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        proxy = TomcatProxy.servlet(Upstream.config(upstream)
                .cors(CorsConfig.builder().allowedOrigins(List.of(APP)).build())
                .allowedHosts(List.of("127.0.0.1"))
                .build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    static void upstreamAnswers(int status, String contentType, String body) {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(status)
                        .withHeader("Content-Type", contentType)
                        .withBody(body.getBytes(StandardCharsets.UTF_8))));
    }

    static RawHttp.Response send(String method, String path, String host, String extraHeaders, String body) {
        byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extraHeaders
                + (body == null ? "" : "Content-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n")
                + "Connection: close\r\n";
        return RawHttp.exchange(proxy.port(), head, bytes);
    }

    static RawHttp.Response send(String method, String path, String body) {
        return send(method, path, "127.0.0.1", "", body);
    }

    static void assertNoSniff(RawHttp.Response r) {
        assertThat(r.headers().get("X-Content-Type-Options"))
                .as("X-Content-Type-Options on %s", r.status())
                .containsExactly("nosniff");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "text/html,                 /,                     chat",
        "text/html; charset=utf-8,  /,                     streamed chat",
        "text/plain,                /images/generations,   image",
        "application/octet-stream,  /generate-image,       image",
        "text/javascript,           /,                     chat",
        "application/xml,           /,                     chat",
    })
    void aSuccessfulUpstreamAnswerThatIsNeitherJsonNorAnEventStreamIs502OnTheSimpleRoutes(
            String contentType, String path, String kind) {
        upstreamAnswers(200, contentType, PAGE);
        String body = switch (kind) {
            case "chat" -> CHAT;
            case "streamed chat" -> STREAMED_CHAT;
            default -> "{\"prompt\":\"a cat\"}";
        };

        RawHttp.Response r = send("POST", path, body);

        assertThat(assertSeedError(r, 502, "Bad Gateway")).contains("content type");
        assertThat(r.bodyText()).doesNotContain("<script>");
        assertNoSniff(r);
    }

    @ParameterizedTest
    @ValueSource(strings = {"application/json", "application/json; charset=utf-8", "application/problem+json"})
    void jsonAnswersAreStillRelayedOnTheSimpleRoutes(String contentType) {
        upstreamAnswers(200, contentType, "{\"id\":\"x\"}");

        RawHttp.Response r = send("POST", "/", CHAT);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.bodyText()).isEqualTo("{\"id\":\"x\"}");
        assertNoSniff(r);
    }

    @Test
    void aStreamAskedForOnASimpleRouteAndAnsweredWithJsonIs502() {
        // A server that ignores "stream": the seed's client reads events, and would get none.
        upstreamAnswers(200, "application/json", "{\"id\":\"x\"}");

        RawHttp.Response r = send("POST", "/", STREAMED_CHAT);

        assertThat(assertSeedError(r, 502, "Bad Gateway")).contains("content type");
        assertNoSniff(r);
    }

    @Test
    void theV1RoutesRelayWhatTheUpstreamSentButNeverLetItBeSniffed() {
        upstreamAnswers(200, "text/html", PAGE);

        RawHttp.Response r = send("POST", "/v1/chat/completions", CHAT);

        assertThat(r.status()).isEqualTo(200);
        assertThat(r.bodyText()).isEqualTo(PAGE);
        assertNoSniff(r);
    }

    @Test
    void everyKindOfAnswerCarriesNoSniff() {
        upstreamAnswers(200, "text/event-stream", "data: {\"x\":1}\n\ndata: [DONE]\n\n");
        RawHttp.Response stream = send("POST", "/", STREAMED_CHAT);
        assertThat(stream.status()).isEqualTo(200);
        assertNoSniff(stream);

        upstreamAnswers(429, "application/json", "{\"error\":{\"message\":\"slow down\"}}");
        assertNoSniff(send("POST", "/", CHAT));
        assertNoSniff(send("POST", "/v1/chat/completions", CHAT));

        upstreamAnswers(200, "application/json", "{\"data\":[]}");
        assertNoSniff(send("GET", "/v1/models", null));
        assertNoSniff(send("HEAD", "/v1/models", null));

        assertNoSniff(send("GET", "/nowhere", null)); // 404
        assertNoSniff(send("GET", "/v1/nowhere", null)); // 404, OpenAI's shape
        assertNoSniff(send("GET", "/", null)); // 405
        assertNoSniff(send("POST", "/", "not json")); // 400
        assertNoSniff(send("POST", "/", "127.0.0.1", "Content-Type: text/plain\r\n", null)); // 415
        assertNoSniff(send("POST", "/", "evil.test", "", CHAT)); // 403 host not allowed
        assertNoSniff(send("POST", "/", "127.0.0.1", "Origin: https://evil.test\r\n", CHAT)); // 403 origin
        assertNoSniff(send("POST", "/", "127.0.0.1", "x-openai-key: sk-client\r\n", CHAT)); // 403 client key
        assertNoSniff(send("OPTIONS", "/", null)); // plain OPTIONS
        String preflight = "Origin: " + APP + "\r\nAccess-Control-Request-Method: POST\r\n";
        RawHttp.Response accepted = send("OPTIONS", "/", "127.0.0.1", preflight, null);
        assertThat(accepted.status()).isEqualTo(204);
        assertNoSniff(accepted);
        RawHttp.Response rejected = send(
                "OPTIONS",
                "/",
                "127.0.0.1",
                "Origin: https://evil.test\r\nAccess-Control-Request-Method: POST\r\n",
                null);
        assertThat(rejected.status()).isEqualTo(403);
        assertNoSniff(rejected);
        RawHttp.Response session = send("POST", "/sessions", "{}");
        assertThat(session.status()).as(session.bodyText()).isBetween(200, 201);
        assertNoSniff(session);
        assertNoSniff(send("GET", "/sessions/unknown-session", null)); // 404
    }

    @Test
    void adminAnswersCarryNoSniffOnce() {
        // The admin API is a module route: its answers join the engine's common headers, nosniff once.
        String token = "admin-token-for-nosniff-tests-0123456789";
        io.github.openaiproxy.core.access.AccessConfig access =
                io.github.openaiproxy.core.access.AccessConfig.DEFAULTS.withAdmin(
                        new io.github.openaiproxy.core.access.AccessConfig.Admin(
                                true,
                                "/admin",
                                List.of(io.github.openaiproxy.core.access.ProxyKeys.hash(token)),
                                null));
        try (TomcatProxy admin =
                TomcatProxy.servlet(Upstream.config(upstream).access(access).build())) {
            String auth = "Authorization: Bearer " + token + "\r\n";
            List<RawHttp.Response> answers = List.of(
                    adminSend(admin, "GET", "/admin/keys", auth, null),
                    adminSend(admin, "POST", "/admin/keys", auth, "{\"name\":\"nosniff\"}"),
                    adminSend(admin, "POST", "/admin/keys", auth, "{"),
                    adminSend(admin, "GET", "/admin/keys", "", null),
                    adminSend(admin, "GET", "/admin/audit?limit=zz", auth, null));
            assertThat(answers).extracting(RawHttp.Response::status).containsExactly(200, 201, 400, 401, 400);
            answers.forEach(ContentTypeSafetyHttpTest::assertNoSniff);
        }
    }

    static RawHttp.Response adminSend(TomcatProxy admin, String method, String path, String headers, String body) {
        byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
                + (body == null ? "" : "Content-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n")
                + "Connection: close\r\n";
        return RawHttp.exchange(admin.port(), head, bytes);
    }
}
