package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Bodies a hostile client shapes so that a token or money limit cannot read them, while the upstream still does: no
 * content type, another content type, a compressed body, a member named twice. Each is read and counted, or refused
 * before the upstream call; none reaches the upstream uncounted.
 */
class ProxyEngineUncountableBodiesTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String UNPRICED =
            "{\"model\":\"acme-local-7b\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

    private final List<ProxyEngine> engines = new ArrayList<>();

    @BeforeEach
    void answer() {
        upstream.server().stubFor(any(anyUrl()).willReturn(okJson(CHAT_COMPLETION)));
    }

    @AfterEach
    void close() {
        engines.forEach(ProxyEngine::close);
    }

    private ProxyEngine engine(Map<String, String> settings) {
        ProxyEngine e = ProxyEngine.builder(ProxySettings.from(settings)
                        .applyTo(config(upstream.baseUrl()))
                        .build())
                .build();
        engines.add(e);
        return e;
    }

    /** A POST with only {@code Content-Length}; the caller adds the content type and coding it wants. */
    private static ProxyRequest.Builder post(String path, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return ProxyRequest.builder("POST", path)
                .header("Content-Length", Integer.toString(body.length))
                .remoteAddress("10.0.0.1")
                .body(body);
    }

    /** A chat body gzip-compressed, as declared (the proxy relays it as it is, never decoding it). */
    private static ProxyRequest.Builder gzipped(String json) {
        return gzipped("/v1/chat/completions", json);
    }

    private static ProxyRequest.Builder gzipped(String path, String json) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gzip = new java.util.zip.GZIPOutputStream(bytes)) {
            gzip.write(json.getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        byte[] body = bytes.toByteArray();
        return ProxyRequest.builder("POST", path)
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "gzip")
                .header("Content-Length", Integer.toString(body.length))
                .remoteAddress("10.0.0.1")
                .body(body);
    }

    private static String bigPrompt() {
        return "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""
                + "hello ".repeat(30_000) + "\"}]}";
    }

    private static int upstreamCalls() {
        return upstream.server().getAllServeEvents().size();
    }

    @Test
    void aBodyWithoutContentTypeIsReadForACostBudget() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.cost-per-day", "5"));

        Answer declared =
                send(engine, post("/v1/chat/completions", UNPRICED).header("Content-Type", "application/json"));
        Answer undeclared = send(engine, post("/v1/chat/completions", UNPRICED));

        assertThat(declared.status()).isEqualTo(403);
        assertThat(undeclared.status()).as(undeclared.text()).isEqualTo(403);
        assertThat(undeclared.proxyError(403).path("error").path("code").asText())
                .isEqualTo("model_not_priced");
        assertThat(upstreamCalls()).isZero();
    }

    /** An empty body names no model and no prompt: it used to reach the upstream reserving nothing. */
    @Test
    void anEmptyBodyIsRefusedUnderATokenOrMoneyLimit() {
        for (String rule : List.of("policies.anonymous.cost-per-day", "policies.anonymous.tokens-per-minute")) {
            ProxyEngine engine = engine(Map.of(rule, "5000"));

            Answer a = send(engine, post("/v1/chat/completions", "").header("Content-Type", "application/json"));

            assertThat(a.status()).as(rule + ": " + a.text()).isEqualTo(400);
            assertThat(a.proxyError(400).path("error").path("code").asText()).isEqualTo("invalid_json");
        }
        assertThat(upstreamCalls()).isZero();
    }

    /**
     * A GET on a JSON route's path (OpenAI's list of stored chat completions, added as a pass-through route) has no
     * body to count: it is not an empty JSON body, and passes as it did before empty bodies were refused.
     */
    @Test
    void aBodilessGetOnAJsonRoutesPathPassesUnderATokenOrMoneyLimit() {
        for (String rule : List.of("policies.anonymous.cost-per-day", "policies.anonymous.tokens-per-minute")) {
            ProxyEngine engine = engine(
                    Map.of(rule, "5000", "pass-through-routes", "POST /v1/chat/completions, GET /v1/chat/completions"));

            Answer a = send(
                    engine,
                    ProxyRequest.builder("GET", "/v1/chat/completions")
                            .rawQuery("limit=5")
                            .remoteAddress("10.0.0.1"));

            assertThat(a.status()).as(rule + ": " + a.text()).isEqualTo(200);
        }
        assertThat(upstreamCalls()).isEqualTo(2);
    }

    @Test
    void aPromptOverTheWholeTokenLimitIsRefusedWithoutContentType() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.tokens-per-minute", "10000"));

        Answer a = send(engine, post("/v1/chat/completions", bigPrompt()));

        assertThat(a.status()).as(a.text()).isEqualTo(400);
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void aJsonCallIsReadWhateverTypeItDeclaresOnARouteTheOperatorAdded() {
        // An added route takes any content type (the proxy cannot know what a custom route carries), but a legacy
        // completion is JSON to the upstream: the limit reads it all the same.
        ProxyEngine engine = engine(
                Map.of("policies.anonymous.tokens-per-minute", "10000", "pass-through-routes", "POST /v1/completions"));
        String prompt = "{\"model\":\"gpt-3.5-turbo-instruct\",\"max_tokens\":10,\"prompt\":\""
                + "hello ".repeat(30_000) + "\"}";

        Answer a = send(engine, post("/v1/completions", prompt).header("Content-Type", "text/plain"));

        assertThat(a.status()).as(a.text()).isEqualTo(400);
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void aStreamWithoutContentTypeIsStillAskedForItsUsage() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.tokens-per-day", "100000"));
        String stream =
                "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

        send(engine, post("/v1/chat/completions", stream));

        assertThat(upstream.server().getAllServeEvents())
                .singleElement()
                .satisfies(e -> assertThat(e.getRequest().getBodyAsString()).contains("\"include_usage\":true"));
    }

    @Test
    void aCompressedBodyIsRefusedWhereTokensAreCountedAndRelayedWhereOnlyRequestsAre() {
        ProxyEngine counting = engine(Map.of("policies.anonymous.tokens-per-minute", "100000"));
        ProxyEngine requestsOnly = engine(Map.of("policies.anonymous.requests-per-minute", "100"));
        Answer refused = send(counting, gzipped(UNPRICED));
        assertThat(refused.status()).as(refused.text()).isEqualTo(400);
        assertThat(refused.proxyError(400).path("error").path("message").asText())
                .contains("only uncompressed JSON bodies can be counted");
        assertThat(upstreamCalls()).isZero();

        Answer relayed = send(requestsOnly, gzipped(UNPRICED));
        assertThat(relayed.status()).as(relayed.text()).isEqualTo(200);
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    @Test
    void anImageGenerationIsJsonOnlyToo() {
        // Its answer names no model: read unread, it would be priced at nothing.
        ProxyEngine budget = engine(Map.of("policies.anonymous.cost-per-day", "5"));
        String image = "{\"model\":\"dall-e-3\",\"n\":1,\"n\":1,\"prompt\":\"a cat\"}";

        Answer gzip = send(budget, gzipped("/v1/images/generations", image));
        Answer twice = send(budget, post("/v1/images/generations", image).header("Content-Type", "application/json"));

        assertThat(gzip.status()).as(gzip.text()).isEqualTo(400);
        assertThat(twice.proxyError(400).path("error").path("code").asText()).isEqualTo("invalid_json");
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void anImageEditIsRefusedUnderAMoneyLimitAndRelayedUnderOthers() {
        // Multipart: its model is a form field the proxy does not read, and the answer names none.
        List<String> routes = List.of("POST /v1/images/edits");
        ProxyEngine budget =
                engine(Map.of("policies.anonymous.cost-per-day", "5", "pass-through-routes", String.join(",", routes)));
        ProxyEngine requests = engine(
                Map.of("policies.anonymous.requests-per-day", "100", "pass-through-routes", String.join(",", routes)));
        String form = "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-image-1\r\n--b--\r\n";

        Answer refused =
                send(budget, post("/v1/images/edits", form).header("Content-Type", "multipart/form-data; boundary=b"));
        assertThat(refused.status()).as(refused.text()).isEqualTo(400);
        assertThat(refused.proxyError(400).path("error").path("message").asText())
                .contains("cannot be priced");
        assertThat(upstreamCalls()).isZero();

        Answer relayed = send(
                requests, post("/v1/images/edits", form).header("Content-Type", "multipart/form-data; boundary=b"));
        assertThat(relayed.status()).as(relayed.text()).isEqualTo(200);
    }

    @Test
    void aMemberNamedTwiceIsRefusedWhereTheBodyIsCountedAndLeftToTheUpstreamElsewhere() {
        // The upstream reads the last of the two; a limit that cannot read the body must not let it pass uncounted.
        String twice = "{\"model\":\"acme-local-7b\",\"user\":\"a\",\"user\":\"b\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        ProxyEngine budget = engine(Map.of("policies.anonymous.cost-per-day", "5"));
        ProxyEngine requestsOnly = engine(Map.of("policies.anonymous.requests-per-minute", "100"));

        Answer refused = send(budget, post("/v1/chat/completions", twice).header("Content-Type", "application/json"));
        assertThat(refused.status()).as(refused.text()).isEqualTo(400);
        assertThat(refused.proxyError(400).path("error").path("code").asText()).isEqualTo("invalid_json");
        assertThat(upstreamCalls()).isZero();

        Answer relayed =
                send(requestsOnly, post("/v1/chat/completions", twice).header("Content-Type", "application/json"));
        assertThat(relayed.status()).as(relayed.text()).isEqualTo(200);
    }
}
