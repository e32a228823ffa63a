package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertNoSecrets;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.core.testing.Upstream.SERVER_KEY;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertJsonError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletResponse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The adapter's contract with its container, run against each container with a few lines of its own
 * (a compatibility kit): one case per concern, the exhaustive tables live in the Tomcat test classes.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class ContainerHttpKit {
    static final String APP = "https://app.example.com";
    static final int LIMIT = 1024;
    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    ProxyServer proxy;

    /**
     * The upstream, a static {@link WireMockExtension} registered by the subclass (one per class, so
     * the kit also holds when test classes run in parallel).
     */
    abstract WireMockExtension upstream();

    /** The proxy servlet at {@code mapping}, for example {@code /*} or {@code /ai/*}. */
    abstract ProxyServer servlet(ProxyConfig config, String mapping);

    /** The proxy servlet on {@code /*} behind a host filter that sees every request first. */
    abstract ProxyServer servlet(ProxyConfig config, Filter front);

    /** The proxy filter on {@code /*} in front of an app servlet answering {@code "app:" + uri}. */
    abstract ProxyServer filter(ProxyConfig config);

    /** The proxy servlet on {@code /*}, its container set as the README says to let {@code %2F} through. */
    abstract ProxyServer servletAllowingEncodedSlashes(ProxyConfig config);

    /**
     * Whether the container answers {@code Expect: 100-continue} itself, before the application sees the
     * request (Tomcat's default {@code continueResponseTiming=immediately}); otherwise the application asks
     * for the body by reading it.
     */
    boolean containerSendsContinueItself() {
        return false;
    }

    @BeforeAll
    void start() {
        proxy = servlet(
                Upstream.config(upstream())
                        .maxBodySize(LIMIT)
                        .cors(CorsConfig.builder().allowedOrigins(List.of(APP)).build())
                        .build(),
                "/*");
    }

    @AfterAll
    void stop() {
        proxy.close();
    }

    @BeforeEach
    void answerEverything() {
        upstream()
                .stubFor(any(anyUrl())
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("x-request-id", "req_kit")
                                .withBody("{\"ok\":true}")));
    }

    @Test
    void chatIsNormalizedAndSentWithTheServerKeyOnly() {
        HttpResponse<String> r = Http.postJson(
                proxy.uri("/"), CHAT, "Authorization", "Bearer sk-client-placeholder-123", "Cookie", "s=1");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"ok\":true}");
        assertThat(r.headers().firstValue("x-request-id")).contains("req_kit");
        upstream()
                .verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                        .withRequestBody(equalToJson(
                                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":\"gpt-3.5-turbo\","
                                        + "\"temperature\":0.7,\"max_tokens\":1000,\"stream\":false}",
                                false,
                                false)));
        LoggedRequest sent = Upstream.onlyRequest(upstream());
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(Upstream.headerNames(sent))
                .isSubsetOf(Set.of(
                        "authorization",
                        "user-agent",
                        "content-type",
                        "accept",
                        "accept-encoding",
                        "content-length",
                        "host"));
    }

    @Test
    void passThroughIsByteFaithfulBothWays() {
        byte[] body = "{ \"model\" :\"m\", \"temperature\": 1.50, \"x\":1e2, \"t\":\"\u00fc\u2713\" }\n"
                .getBytes(StandardCharsets.UTF_8);
        byte[] answer = "{ \"id\" : \"a\",  \"n\": 1.50, \"t\":\"\u00fc\u2713\" }".getBytes(StandardCharsets.UTF_8);
        upstream()
                .stubFor(post("/v1/embeddings")
                        .willReturn(aResponse().withStatus(200).withBody(answer)));

        HttpResponse<byte[]> r = Http.sendForBytes(Http.request(proxy.uri("/v1/embeddings"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(answer);
        assertThat(Upstream.onlyRequest(upstream()).getBody()).isEqualTo(body);

        upstream().resetRequests();
        assertThat(Http.get(proxy.uri("/v1/models?x=1")).statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream()).getUrl()).isEqualTo("/v1/models?x=1");
    }

    @Test
    void aQueryWithRawNonAsciiBytesIsRefusedNotPassedOnMangled() {
        // The bytes of "a=\u00fc" in Latin-1 and of "a=caf\u00e9" in UTF-8, as a client that does not percent-encode
        // sends them: not a valid request target, so never forwarded (Jetty hands them to the application).
        byte[][] queries = {
            "a=\u00fc".getBytes(StandardCharsets.ISO_8859_1), "a=caf\u00e9".getBytes(StandardCharsets.UTF_8)
        };
        for (byte[] query : queries) {
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                c.write("GET /v1/models?");
                c.write(query);
                c.write(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
                RawHttp.Response r = c.readResponse();
                assertThat(r.status()).as(r.bodyText()).isEqualTo(400);
                if (r.header("Content-Type").orElse("").startsWith("application/json")) {
                    assertOpenAiError(r, 400, "invalid_request_error", "invalid_request");
                }
            }
        }
        Upstream.assertNoCalls(upstream());
    }

    @Test
    void aRelayedHeaderWithBytesOutsideAsciiIsRefusedNotRewritten() {
        // Both containers take obs-text (bytes 0x80-0xFF) in header values; the upstream clients would re-encode
        // it (the JDK's as '?', so that "k\u00e9" and "k\u00fc" become one idempotency key; Jetty's as UTF-8).
        byte[] body = "{\"model\":\"m\",\"input\":\"x\"}".getBytes(StandardCharsets.UTF_8);
        for (String header : List.of(
                "Idempotency-Key: k\u00e9",
                "OpenAI-Beta: assistants=v\u00e9",
                "Accept: application/\u00e9",
                "Content-Type: application/json; charset=\u00e9")) {
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                String head = "POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        + (header.startsWith("Content-Type") ? "" : "Content-Type: application/json\r\n")
                        + header + "\r\nContent-Length: " + body.length + "\r\n\r\n";
                c.write(head.getBytes(StandardCharsets.ISO_8859_1));
                c.write(body);
                assertOpenAiError(c.readResponse(), 400, "invalid_request_error", "invalid_request");
            }
        }
        Upstream.assertNoCalls(upstream());
    }

    /**
     * A model id with a slash ({@code meta-llama/Llama-3.1-8B-Instruct}, as OpenRouter, vLLM and Together name
     * models), sent raw as the Node and Python SDKs do: retrieved from the upstream under that very path.
     */
    @Test
    void aModelIdWithASlashSentRawIsRetrievedFromTheUpstream() {
        RawHttp.Response r = RawHttp.exchange(
                proxy.port(),
                "GET /v1/models/meta-llama/Llama-3.1-8B-Instruct HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + "Connection: close\r\n",
                new byte[0]);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(r.bodyText()).isEqualTo("{\"ok\":true}");
        assertThat(Upstream.onlyRequest(upstream()).getUrl()).isEqualTo("/v1/models/meta-llama/Llama-3.1-8B-Instruct");
    }

    /**
     * The same id sent encoded ({@code %2F}), as openai-java sends it: by default the container refuses it before
     * the application sees it (Tomcat's {@code encodedSolidusHandling=reject}, Jetty's ambiguous separator rule);
     * with the README's host setting it reaches the upstream with a raw slash, as the other SDKs send it.
     */
    @Test
    void aModelIdWithAnEncodedSlashIsRetrievedWhereTheContainerLetsItThrough() {
        String head = "GET /v1/models/meta-llama%2FLlama-3.1-8B-Instruct HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Connection: close\r\n";
        RawHttp.Response refused = RawHttp.exchange(proxy.port(), head, new byte[0]);
        assertThat(refused.status()).as(refused.bodyText()).isEqualTo(400);
        Upstream.assertNoCalls(upstream());

        try (ProxyServer allowing =
                servletAllowingEncodedSlashes(Upstream.config(upstream()).build())) {
            RawHttp.Response r = RawHttp.exchange(allowing.port(), head, new byte[0]);

            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("{\"ok\":true}");
            assertThat(Upstream.onlyRequest(upstream()).getUrl())
                    .isEqualTo("/v1/models/meta-llama/Llama-3.1-8B-Instruct");
        }
    }

    /** Neither form of slash leads the upstream out of {@code /v1/models/}: no call at all. */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "/v1/models/a/../files",
                "/v1/models/../files",
                "/v1/models/a/%2e%2e/files",
                "/v1/models/a//b",
                "/v1/models/a%2F..%2Ffiles",
                "/v1/models/a%2F%2e%2e%2Ffiles",
                "/v1/models/a%252F..%252Ffiles"
            })
    void aModelIdCannotLeadTheUpstreamToAnotherPath(String path) {
        try (ProxyServer allowing =
                servletAllowingEncodedSlashes(Upstream.config(upstream()).build())) {
            for (int port : new int[] {proxy.port(), allowing.port()}) {
                RawHttp.Response r = RawHttp.exchange(
                        port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", new byte[0]);
                assertThat(r.status()).as(path + " " + r.bodyText()).isIn(400, 404);
            }
        }
        Upstream.assertNoCalls(upstream());
    }

    @Test
    void headOnAGetRouteHasGetsHeadersAndNoBody() {
        RawHttp.Response r = RawHttp.exchange(
                proxy.port(), "HEAD /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", new byte[0]);

        assertThat(r.status()).isEqualTo(200);
        assertThat(r.header("Content-Length")).isPresent();
        assertThat(r.body()).isEmpty();
        assertThat(Upstream.onlyRequest(upstream()).getMethod().toString()).isEqualTo("GET");
    }

    @Test
    void theProxysOwnErrorsAreJsonAndComplete() {
        assertSeedError(Http.postJson(proxy.uri("/"), "{\"messages\":1}"), 400, "Invalid messages format");
        assertOpenAiError(Http.get(proxy.uri("/v1/nowhere")), 404, "invalid_request_error", "unknown_url");
        HttpResponse<String> wrong = Http.get(proxy.uri("/"));
        assertSeedError(wrong, 405, "Method Not Allowed");
        assertThat(wrong.headers().firstValue("Allow")).contains("OPTIONS, POST");
        assertOpenAiError(
                Http.call("POST", proxy.uri("/v1/embeddings"), "x", "Content-Type", "text/plain"),
                415,
                "invalid_request_error",
                "unsupported_media_type");
        assertOpenAiError(
                Http.get(proxy.uri("/v1/models"), "x-openai-key", "sk-client-1234567890"),
                403,
                "permission_error",
                "client_key_disabled");
        Upstream.assertNoCalls(upstream());
    }

    static final String REALTIME = "/v1/realtime?model=gpt-4o-realtime-preview";

    /** The head of a WebSocket handshake as the Realtime API's clients write it, for {@code path}, without its end. */
    static String handshake(String path) {
        return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    }

    /** The status the JDK's WebSocket client meets when it opens {@code ws://} on {@code path}. */
    int webSocketStatus(ProxyServer server, String path) throws Exception {
        CompletableFuture<WebSocket> open = HttpClient.newHttpClient()
                .newWebSocketBuilder()
                .buildAsync(URI.create("ws://127.0.0.1:" + server.port() + path), new WebSocket.Listener() {});
        Throwable failure = catchThrowable(() -> open.get(Http.TIMEOUT.toSeconds(), TimeUnit.SECONDS));
        assertThat(failure).as(path).hasCauseInstanceOf(WebSocketHandshakeException.class);
        return ((WebSocketHandshakeException) failure.getCause()).getResponse().statusCode();
    }

    @Test
    void aWebSocketHandshakeIsAnswered501LocallyOnEveryPathAndNeverGoesUpstream() throws Exception {
        // The Realtime API's path (no route), a GET route (which sent a plain GET upstream with the server key and
        // relayed its 200) and a POST-only route: the same refusal, before any credential is looked at.
        for (String path : List.of(REALTIME, "/v1/models", "/")) {
            assertThat(webSocketStatus(proxy, path)).as(path).isEqualTo(501);
        }
        // Each on its own connection: Tomcat closes one after a 501.
        RawHttp.Response r = RawHttp.exchange(proxy.port(), handshake(REALTIME), new byte[0]);
        assertOpenAiError(r, 501, "invalid_request_error", "websocket_not_supported");
        assertThat(r.header("x-should-retry")).contains("false");
        assertThat(r.header("x-request-id"))
                .hasValueSatisfying(id -> assertThat(id).startsWith("req_proxy_"));
        assertSeedError(RawHttp.exchange(proxy.port(), handshake("/"), new byte[0]), 501, "Not Implemented");
        Upstream.assertNoCalls(upstream());
    }

    @Test
    void theFilterHandsAWebSocketHandshakeOnAPathNotTheProxysToTheApplication() {
        try (ProxyServer filtered = filter(Upstream.config(upstream()).build())) {
            // The application may serve /v1/realtime itself; a proxy route is refused as by the servlet.
            RawHttp.Response app = RawHttp.exchange(filtered.port(), handshake(REALTIME), new byte[0]);
            assertThat(app.bodyText()).isEqualTo("app:/v1/realtime");
            RawHttp.Response refused = RawHttp.exchange(filtered.port(), handshake("/v1/models"), new byte[0]);
            assertOpenAiError(refused, 501, "invalid_request_error", "websocket_not_supported");
        }
        Upstream.assertNoCalls(upstream());
    }

    @Test
    void errorsAnsweredWithoutReadingTheBodyKeepTheConnectionUsable() {
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            assertJsonError(c.readResponse(), 404);
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                    + "Content-Length: 5\r\n\r\nhello");
            assertJsonError(c.readResponse(), 415);
            c.write("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            RawHttp.Response ok = c.readResponse();
            assertThat(ok.status()).as(ok.bodyText()).isEqualTo(200);
        }
    }

    @Test
    void expectContinueAsksForABodyThatIsReadAndNotForOneRefusedUnread() {
        // A body the proxy reads: 100 Continue, then the body goes upstream once, whole.
        byte[] chat = CHAT.getBytes(StandardCharsets.UTF_8);
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: " + chat.length + "\r\n\r\n");
            assertThat(c.readResponse().status()).isEqualTo(100);
            c.write(chat);
            RawHttp.Response ok = c.readResponse();
            assertThat(ok.status()).as(ok.bodyText()).isEqualTo(200);
        }
        assertThat(Upstream.onlyRequest(upstream()).getBody()).isEqualTo(chat);
        upstream().resetRequests();

        // Bodies refused before they are read (size, type, key, route): the final answer, not an invitation to
        // send what will be thrown away.
        String json = "Content-Type: application/json\r\n";
        String[][] refused = {
            {"/v1/chat/completions", json, "5000", "413"},
            {"/v1/embeddings", "Content-Type: text/plain\r\n", "100", "415"},
            {"/v1/chat/completions", json + "x-openai-key: sk-client-1234567890\r\n", "100", "403"},
            {"/nowhere", json, "100", "404"},
        };
        for (String[] r : refused) {
            try (RawHttp c = RawHttp.connect(proxy.port())) {
                c.write("POST " + r[0] + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + r[1] + "Expect: 100-continue\r\n"
                        + "Content-Length: " + r[2] + "\r\n\r\n");
                RawHttp.Response answer = c.readResponse();
                if (answer.status() == 100 && containerSendsContinueItself()) {
                    answer = c.readResponse();
                }
                assertJsonError(answer, Integer.parseInt(r[3]));
            }
        }
        Upstream.assertNoCalls(upstream());
    }

    @Test
    void bodiesOverTheLimitAre413DeclaredOrChunked() {
        byte[] big = new byte[LIMIT + 1];
        Arrays.fill(big, (byte) ' ');
        assertOpenAiError(
                Http.send(Http.request(proxy.uri("/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(big))
                        .build()),
                413,
                "invalid_request_error",
                "request_too_large");

        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            byte[] chunk = new byte[512];
            Arrays.fill(chunk, (byte) ' ');
            for (int i = 0; i < 3; i++) {
                c.writeChunk(chunk);
            }
            assertSeedError(c.readResponse(), 413, "Payload Too Large");
        }
        Upstream.assertNoCalls(upstream());
    }

    @Test
    void aBodyWithoutContentTypeIsAccepted() {
        RawHttp.Response r = RawHttp.exchange(
                proxy.port(),
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                CHAT.getBytes(StandardCharsets.UTF_8));

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream()).getHeader("Content-Type")).isEqualTo("application/json");
    }

    @Test
    void corsPreflightAndErrorsForAnAllowedOrigin() {
        HttpResponse<String> pre = Http.call(
                "OPTIONS",
                proxy.uri("/v1/chat/completions"),
                null,
                "Origin",
                APP,
                "Access-Control-Request-Method",
                "POST",
                "Access-Control-Request-Headers",
                "content-type, authorization, x-stainless-lang");
        assertThat(pre.statusCode()).isIn(200, 204);
        assertThat(pre.headers().firstValue("Access-Control-Allow-Origin")).contains(APP);
        assertThat(pre.headers().firstValue("Access-Control-Max-Age")).contains("86400");

        HttpResponse<String> notFound = Http.get(proxy.uri("/v1/nowhere"), "Origin", APP);
        assertThat(notFound.statusCode()).isEqualTo(404);
        assertThat(notFound.headers().firstValue("Access-Control-Allow-Origin")).contains(APP);

        HttpResponse<String> denied = Http.call(
                "OPTIONS",
                proxy.uri("/"),
                null,
                "Origin",
                "https://evil.example",
                "Access-Control-Request-Method",
                "POST");
        assertThat(denied.statusCode()).isEqualTo(403);
        assertThat(denied.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    /**
     * A host filter on the proxy's path (Spring's CorsFilter, Spring Security's header writer) set CORS and caching
     * headers of its own before the proxy answered. The proxy's CORS answer is whole: one Access-Control-Allow-Origin,
     * and no Allow-Credentials its configuration does not grant (the host's would let the origin read the logged-in
     * user's answers with cookies); Cache-Control and nosniff once; the host's Vary and other headers stay.
     */
    @Test
    void theProxysCorsAnswerReplacesAHostFiltersWhole() {
        Filter host = (req, res, chain) -> {
            HttpServletResponse r = (HttpServletResponse) res;
            r.setHeader("Access-Control-Allow-Origin", APP);
            r.setHeader("Access-Control-Allow-Credentials", "true");
            r.setHeader("Access-Control-Expose-Headers", "X-Host");
            r.setHeader("Access-Control-Max-Age", "5");
            r.addHeader("Vary", "Accept-Language");
            r.setHeader("Cache-Control", "no-cache, no-store");
            r.setHeader("X-Content-Type-Options", "nosniff");
            r.setHeader("X-Host", "kept");
            chain.doFilter(req, res);
        };
        try (ProxyServer behind = servlet(
                Upstream.config(upstream())
                        .cors(CorsConfig.builder().allowedOrigins(List.of(APP)).build())
                        .build(),
                host)) {
            HttpResponse<String> r = Http.postJson(behind.uri("/"), CHAT, "Origin", APP);

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.headers().allValues("Access-Control-Allow-Origin")).containsExactly(APP);
            assertThat(r.headers().allValues("Access-Control-Allow-Credentials"))
                    .isEmpty();
            assertThat(r.headers().allValues("Access-Control-Max-Age")).isEmpty();
            assertThat(String.join(",", r.headers().allValues("Access-Control-Expose-Headers")))
                    .containsIgnoringCase("x-request-id")
                    .doesNotContain("X-Host");
            // A relayed answer without Cache-Control of its own keeps the host's.
            assertThat(r.headers().allValues("Cache-Control")).containsExactly("no-cache, no-store");
            assertThat(r.headers().allValues("X-Content-Type-Options")).containsExactly("nosniff");
            assertThat(String.join(",", r.headers().allValues("Vary")))
                    .contains("Accept-Language")
                    .contains("Origin");
            assertThat(r.headers().allValues("X-Host")).containsExactly("kept");

            HttpResponse<String> error = Http.get(behind.uri("/v1/nowhere"), "Origin", APP);
            assertThat(error.statusCode()).isEqualTo(404);
            assertThat(error.headers().allValues("Access-Control-Allow-Origin")).containsExactly(APP);
            assertThat(error.headers().allValues("Access-Control-Allow-Credentials"))
                    .isEmpty();
            assertThat(error.headers().allValues("Cache-Control")).containsExactly("no-store");
            assertThat(error.headers().allValues("X-Content-Type-Options")).containsExactly("nosniff");

            // Not a cross-origin call for the proxy: its answer has no CORS headers, and the host's stay.
            HttpResponse<String> same = Http.postJson(behind.uri("/"), CHAT);
            assertThat(same.statusCode()).as(same.body()).isEqualTo(200);
            assertThat(same.headers().allValues("Access-Control-Allow-Origin")).containsExactly(APP);
            assertThat(same.headers().allValues("Access-Control-Allow-Credentials"))
                    .containsExactly("true");
        }
    }

    @Test
    void anUpstream401IsMaskedAndKeepsItsStatus() {
        upstream()
                .stubFor(any(anyUrl())
                        .willReturn(aResponse()
                                .withStatus(401)
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"error\":{\"message\":\"Incorrect API key provided: "
                                        + SERVER_KEY.substring(0, 8)
                                        + "****" + SERVER_KEY.substring(SERVER_KEY.length() - 4) + ".\",\"type\":"
                                        + "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}")));

        HttpResponse<String> simple = Http.postJson(proxy.uri("/"), CHAT);
        assertSeedError(simple, 401, "OpenAI API Error");
        assertNoSecrets(simple, SERVER_KEY);

        HttpResponse<String> v1 = Http.postJson(proxy.uri("/v1/chat/completions"), CHAT);
        assertOpenAiError(v1, 401, "invalid_request_error", "invalid_api_key");
        assertNoSecrets(v1, SERVER_KEY);
        assertThat(v1.body()).doesNotContain(SERVER_KEY.substring(SERVER_KEY.length() - 4) + ".\"");
    }

    @Test
    void anEventStreamIsRelayedWithItsHeaders() {
        String events = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                + "data: {\"choices\":[{\"delta\":{\"content\":\"!\"}}]}\n\ndata: [DONE]\n\n";
        upstream()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(events)
                                .withChunkedDribbleDelay(3, 200)));

        HttpResponse<String> r = Http.postJson(
                proxy.uri("/"), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]," + "\"stream\":true}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        assertThat(r.headers().firstValue("Cache-Control")).contains("no-cache");
        assertThat(r.body()).isEqualTo(events);
    }

    @Test
    void theServletUnderAPrefixAndTheFilterWithAPath() {
        try (ProxyServer ai = servlet(Upstream.config(upstream()).build(), "/ai/*")) {
            assertThat(Http.get(ai.uri("/ai/v1/models")).statusCode()).isEqualTo(200);
            assertThat(Upstream.onlyRequest(upstream()).getUrl()).isEqualTo("/v1/models");
            assertSeedError(Http.get(ai.uri("/ai/unknown")), 404, "Not Found");
        }
        upstream().resetRequests();
        try (ProxyServer filtered =
                filter(Upstream.config(upstream()).path("/ai").build())) {
            assertThat(Http.postJson(filtered.uri("/ai/"), CHAT).statusCode()).isEqualTo(200);
            assertThat(Upstream.onlyRequest(upstream()).getUrl()).isEqualTo("/v1/chat/completions");
            assertThat(Http.get(filtered.uri("/other")).body()).isEqualTo("app:/other");
            assertThat(Http.get(filtered.uri("/ai/unknown")).body()).isEqualTo("app:/ai/unknown");
        }
    }
}
