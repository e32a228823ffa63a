package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.SERVER_KEY;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.post;
import static io.github.openaiproxy.core.EngineFixture.send;
import static io.github.openaiproxy.core.testing.Answer.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamConfig.ClientKind;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** What the proxy sends upstream, and how it relays a successful answer. */
@ParameterizedClass(name = "{0} client")
@EnumSource(
        value = ClientKind.class,
        names = {"JETTY", "JDK"})
class ProxyEngineUpstreamRequestTest {
    /** Every case runs on both upstream clients. */
    @Parameter
    ClientKind client;

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private ProxyEngine engine;

    @BeforeEach
    void answerEverything() {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(okJson(CHAT_COMPLETION)
                                .withHeader("x-request-id", "req_123")
                                .withHeader("openai-processing-ms", "42")
                                .withHeader("x-ratelimit-remaining-requests", "99")
                                .withHeader("Set-Cookie", "__cf_bm=abc; path=/")
                                .withHeader("Server", "cloudflare")));
        engine = ProxyEngine.create(config(upstream.baseUrl(), client)
                .allowClientKey(true)
                .passThroughRoutes(
                        concat(PassThroughRoute.DEFAULTS, PassThroughRoute.parse("POST /v1/audio/transcriptions")))
                .build());
    }

    @AfterEach
    void close() {
        engine.close();
    }

    @Test
    void chatOnTheSimpleRouteGoesUpNormalizedWithTheServerKey() {
        Answer a = send(engine, post("/", CHAT));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getMethod().getName()).isEqualTo("POST");
        assertThat(up.getUrl()).isEqualTo("/v1/chat/completions");
        assertThat(parse(up.getBodyAsString()))
                .isEqualTo(
                        parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"model\":\"gpt-3.5-turbo\","
                                + "\"temperature\":0.7,\"max_tokens\":1000,\"stream\":false}"));
        assertThat(up.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(up.getHeader("Content-Type")).startsWith("application/json");
        assertThat(up.getHeader("Accept")).isEqualTo("application/json");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.json()).isEqualTo(parse(CHAT_COMPLETION));
    }

    @Test
    void clientCredentialsAndCookiesNeverReachTheUpstream() {
        send(
                engine,
                post("/", CHAT)
                        .header("Authorization", "Bearer sk-client-placeholder")
                        .header("Cookie", "JSESSIONID=abc")
                        .header("x-stainless-lang", "js"));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(up.containsHeader("Cookie")).isFalse();
        assertThat(up.containsHeader("x-openai-key")).isFalse();
        assertThat(up.containsHeader("x-stainless-lang")).isFalse();
    }

    @Test
    void clientKeyIsUsedUpstreamButNotForwardedAsAHeader() {
        send(engine, post("/v1/chat/completions", CHAT).header("x-openai-key", "sk-client-0002"));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getHeader("Authorization")).isEqualTo("Bearer sk-client-0002");
        assertThat(up.containsHeader("x-openai-key")).isFalse();
    }

    @Test
    void imageRequestOnTheRootRouteGoesToTheImagesEndpointWithDefaults() {
        send(engine, post("/", "{\"action\":\"generate-image\",\"prompt\":\"A cat sitting on a rainbow\"}"));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getUrl()).isEqualTo("/v1/images/generations");
        assertThat(parse(up.getBodyAsString()))
                .isEqualTo(parse("{\"prompt\":\"A cat sitting on a rainbow\",\"model\":\"dall-e-3\",\"n\":1,"
                        + "\"size\":\"1024x1024\",\"quality\":\"standard\",\"style\":\"vivid\","
                        + "\"response_format\":\"url\"}"));
    }

    @Test
    void imageRouteSendsTheNormalizedBody() {
        send(engine, post("/images/generations", "{\"prompt\":\"x\",\"model\":\"dall-e-2\",\"n\":2}"));

        assertThat(parse(onlyUpstreamRequest().getBodyAsString()))
                .isEqualTo(parse("{\"prompt\":\"x\",\"model\":\"dall-e-2\",\"n\":2,\"size\":\"1024x1024\","
                        + "\"response_format\":\"url\"}"));
    }

    @Test
    void numbersAreForwardedAsWritten() {
        send(
                engine,
                post(
                        "/",
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.70,\"seed\":12345678901234567890}"));

        assertThat(onlyUpstreamRequest().getBodyAsString())
                .contains("\"temperature\":0.70")
                .contains("\"seed\":12345678901234567890");
    }

    @Test
    void passThroughRelaysTheBodyBytesUnchanged() {
        String body = "{ \"model\" : \"gpt-4o\",\n  \"input\": \"h\u00e9llo\", \"unknown\": [1, 2.50] }";

        send(
                engine,
                post("/v1/responses", body)
                        .header("OpenAI-Beta", "responses=v1")
                        .header("Idempotency-Key", "k1"));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getUrl()).isEqualTo("/v1/responses");
        assertThat(up.getBody()).isEqualTo(body.getBytes(StandardCharsets.UTF_8));
        assertThat(up.getHeader("OpenAI-Beta")).isEqualTo("responses=v1");
        assertThat(up.getHeader("Idempotency-Key")).isEqualTo("k1");
        assertThat(up.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
    }

    @Test
    void passThroughGetKeepsPathAndQuery() {
        send(engine, get("/v1/models/ft:gpt-4o-mini:org:x").rawQuery("limit=2&after=a%2Fb"));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getMethod().getName()).isEqualTo("GET");
        assertThat(up.getUrl()).isEqualTo("/v1/models/ft:gpt-4o-mini:org:x?limit=2&after=a%2Fb");
        assertThat(up.getBody()).isEmpty();
    }

    @Test
    void userAddedRouteRelaysAnyContentType() {
        String multipart = "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b--\r\n";

        send(
                engine,
                ProxyRequest.builder("POST", "/v1/audio/transcriptions")
                        .header("Content-Type", "multipart/form-data; boundary=b")
                        .body(multipart.getBytes(StandardCharsets.UTF_8)));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getHeader("Content-Type")).isEqualTo("multipart/form-data; boundary=b");
        assertThat(up.getBodyAsString()).isEqualTo(multipart);
    }

    @Test
    void successfulAnswerIsRelayedWithItsUsefulHeadersOnly() {
        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.streaming()).isFalse();
        assertThat(a.text()).isEqualTo(CHAT_COMPLETION);
        assertThat(a.header("Content-Type")).startsWith("application/json");
        assertThat(a.header("x-request-id")).isEqualTo("req_123");
        assertThat(a.header("openai-processing-ms")).isEqualTo("42");
        assertThat(a.header("x-ratelimit-remaining-requests")).isEqualTo("99");
        assertThat(a.headers().firstValue("Set-Cookie")).isEmpty();
        assertThat(a.headers().firstValue("Server")).isEmpty();
    }

    @Test
    void theUpstreamIsAskedForAnswersUncompressed() {
        send(engine, post("/v1/chat/completions", CHAT).header("Accept-Encoding", "gzip, br"));

        assertThat(onlyUpstreamRequest().getHeader("Accept-Encoding")).isEqualTo("identity");
    }

    @Test
    void anAnswerGzippedAllTheSameIsRelayedDecoded() throws Exception {
        // The proxy reads it (usage, sessions) and the client did not necessarily ask for a coding.
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withHeader("Content-Encoding", "gzip")
                                .withBody(gzip(CHAT_COMPLETION))));

        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.header("Content-Encoding")).isNull();
        assertThat(a.body().text()).isEqualTo(CHAT_COMPLETION);
        assertThat(a.header("Content-Length")).isEqualTo(Integer.toString(CHAT_COMPLETION.length()));
    }

    @Test
    void anAnswerInACodingTheProxyDoesNotUndoIsRelayedWithItsCoding() {
        byte[] coded = {0x0b, 0x02, (byte) 0x80, 0x7b, 0x7d, 0x03}; // "{}" as brotli
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withHeader("Content-Encoding", "br")
                                .withBody(coded)));

        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.header("Content-Encoding")).isEqualTo("br");
        assertThat(a.body().bytes()).isEqualTo(coded);
    }

    @Test
    void anEventStreamInACodingTheProxyDoesNotUndoIsABadGatewayNotBytesNoClientCanRead() {
        // Its events can be neither cut nor metered, and once cut the coding could not be kept.
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withHeader("Content-Encoding", "br")
                                .withBody(new byte[] {0x0b, 0x02, (byte) 0x80, 0x7b, 0x7d, 0x03})));

        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(502);
        assertThat(a.json().path("error").path("code").asText()).isEqualTo("upstream_bad_content_type");
    }

    @Test
    void aGzippedErrorIsDecodedAndRelayedMasked() throws Exception {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                                .withStatus(400)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("Content-Encoding", "gzip")
                                .withBody(gzip("{\"error\":{\"message\":\"bad\",\"code\":\"x\"}}"))));

        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(400);
        assertThat(a.header("Content-Encoding")).isNull();
        assertThat(a.json().path("error").path("message").asText()).isEqualTo("bad");
    }

    @Test
    void anErrorInACodingTheProxyDoesNotUndoIsAnsweredWithTheProxysOwnErrorNotItsBytes() {
        // It cannot be masked (the key may be in it) nor read: the SDK gets an error object it can parse.
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                                .withStatus(400)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("Content-Encoding", "br")
                                .withBody(new byte[] {0x0b, 0x02, (byte) 0x80, 0x7b, 0x7d, 0x03})));

        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(400);
        assertThat(a.header("Content-Encoding")).isNull();
        assertThat(a.json().path("error").path("message").asText()).contains("compressed");
    }

    private static byte[] gzip(String text) throws java.io.IOException {
        java.io.ByteArrayOutputStream zipped = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gzip = new java.util.zip.GZIPOutputStream(zipped)) {
            gzip.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return zipped.toByteArray();
    }

    @Test
    void anUpstreamErrorKeepsTheSdksRetryHint() {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                                .withStatus(500)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("x-should-retry", "false")
                                .withBody("{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}")));

        Answer a = send(engine, post("/v1/chat/completions", CHAT));

        assertThat(a.status()).isEqualTo(500);
        assertThat(a.header("x-should-retry")).isEqualTo("false");
    }

    @Test
    void organizationAndProjectAreSentWhenConfigured() {
        engine.close();
        engine = ProxyEngine.create(config(upstream.baseUrl(), client)
                .upstream(config(upstream.baseUrl(), client)
                        .build()
                        .upstream()
                        .withOrganization("org-1")
                        .withProject("proj-1"))
                .build());

        send(engine, post("/", CHAT));

        LoggedRequest up = onlyUpstreamRequest();
        assertThat(up.getHeader("OpenAI-Organization")).isEqualTo("org-1");
        assertThat(up.getHeader("OpenAI-Project")).isEqualTo("proj-1");
    }

    private static LoggedRequest onlyUpstreamRequest() {
        List<LoggedRequest> all =
                upstream.server().findAll(com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor(anyUrl()));
        assertThat(all).hasSize(1);
        return all.get(0);
    }

    @SafeVarargs
    private static <T> List<T> concat(List<T> list, T... more) {
        List<T> out = new java.util.ArrayList<>(list);
        out.addAll(List.of(more));
        return out;
    }
}
