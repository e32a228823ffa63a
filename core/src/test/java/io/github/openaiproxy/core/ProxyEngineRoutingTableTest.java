package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.testing.EngineHttp;
import io.github.openaiproxy.core.testing.EngineServer;
import io.github.openaiproxy.core.testing.Upstream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Which route answers what, in process: chat or image on {@code POST /}, the image routes, the
 * byte-faithful {@code /v1} pass-through, the configurable pass-through set, 404 and 405. HEAD (whose body
 * the container drops) and a query exactly as sent on the wire are in servlet-adapter's RoutingHttpTest.
 */
class ProxyEngineRoutingTableTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static EngineServer proxy;
    static EngineServer customRoutes;

    /** A body whose bytes the proxy must not touch: odd spacing, unknown fields, 1.50, 1e2, unicode. */
    static final String ODD_BODY = "{ \"model\" :\"gpt-4o-mini\",\n\t\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"h\u00e9llo w\u00f6rld \u2713 \ud83d\ude00 \\u00e9 \\\"q\\\"\"}] ,  \"temperature\": 1.50,"
            + "\"top_p\":1e2,\"n\" : 1E+0, \"x_unknown\" : {\"nested\": [1, 2.0, -0.0, 1E-7, null, true]},"
            + "\"stream\":false }\r\n";

    static final String UPSTREAM_ANSWER =
            "{ \"id\" : \"resp-1\",  \"n\": 1.50, \"text\": \"gr\u00fc\u00df \ud83d\ude00\" }";

    @BeforeAll
    static void start() {
        proxy = EngineServer.of(Upstream.config(upstream).build());
        customRoutes = EngineServer.of(Upstream.config(upstream)
                .passThroughRoutes(List.of(
                        PassThroughRoute.parse("POST /v1/embeddings"),
                        PassThroughRoute.parse("POST /v1/moderations"),
                        PassThroughRoute.parse("GET /v1/files/{id}")))
                .build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
        customRoutes.close();
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(UPSTREAM_ANSWER.getBytes(StandardCharsets.UTF_8))));
    }

    static Stream<Arguments> rootBodies() {
        String messages = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        return Stream.of(
                arguments("messages only", "{" + messages + "}", "/v1/chat/completions"),
                arguments("prompt only", "{\"prompt\":\"a cat\"}", "/v1/images/generations"),
                arguments(
                        "action generate-image",
                        "{\"action\":\"generate-image\",\"prompt\":\"a cat\"}",
                        "/v1/images/generations"),
                arguments(
                        "action generate-image wins over messages",
                        "{\"action\":\"generate-image\",\"prompt\":\"a cat\"," + messages + "}",
                        "/v1/images/generations"),
                arguments("prompt and messages", "{\"prompt\":\"a cat\"," + messages + "}", "/v1/chat/completions"),
                arguments(
                        "prompt, messages null", "{\"prompt\":\"a cat\",\"messages\":null}", "/v1/images/generations"),
                arguments("messages, prompt null", "{\"prompt\":null," + messages + "}", "/v1/chat/completions"),
                arguments("another action", "{\"action\":\"chat\"," + messages + "}", "/v1/chat/completions"),
                arguments(
                        "action that is not a string",
                        "{\"action\":[\"generate-image\"]," + messages + "}",
                        "/v1/chat/completions"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rootBodies")
    void postRootIsChatOrImageByImageActionDetection(String description, String body, String upstreamPath) {
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri("/"), body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(UPSTREAM_ANSWER);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getMethod().getName()).isEqualTo("POST");
        assertThat(sent.getUrl()).isEqualTo(upstreamPath);
        assertThat(sent.getBodyAsString()).doesNotContain("\"action\"");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/images/generations", "/generate-image"})
    void imageRoutesAlwaysGenerateImages(String path) {
        // messages is present: on POST / that would be a chat; the image routes do not look.
        HttpResponse<String> r = EngineHttp.postJson(
                proxy.uri(path), "{\"prompt\":\"a cat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(UPSTREAM_ANSWER);
        assertThat(Upstream.onlyRequest(upstream).getUrl()).isEqualTo("/v1/images/generations");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1/chat/completions", "/v1/images/generations", "/v1/embeddings", "/v1/responses"})
    void passThroughPostRelaysTheBodyByteForByteBothWays(String path) {
        byte[] body = ODD_BODY.getBytes(StandardCharsets.UTF_8);
        HttpResponse<byte[]> r = EngineHttp.sendForBytes(
                "POST", proxy.uri(path), body, "Content-Type", "application/json; charset=utf-8");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(UPSTREAM_ANSWER.getBytes(StandardCharsets.UTF_8));
        assertThat(r.headers().firstValue("content-type")).contains("application/json");
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getMethod().getName()).isEqualTo("POST");
        assertThat(sent.getUrl()).isEqualTo(path);
        assertThat(sent.getBody()).isEqualTo(body);
        // Charset values are case-insensitive, and the upstream's server may normalize them.
        assertThat(sent.getHeader("Content-Type")).isEqualToIgnoringCase("application/json; charset=utf-8");
    }

    @Test
    void passThroughDoesNotApplySeedDefaultsOrValidation() {
        // Invalid for the simple route (messages is no array) and without any seed default: relayed as is.
        String body = "{\"messages\":\"not an array\",\"stream\":\"yes\"}";
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri("/v1/chat/completions"), body);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getBodyAsString()).isEqualTo(body);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/v1/models",
                "/v1/models/gpt-4o-mini",
                "/v1/models/ft:gpt-4o-mini-2024-07-18:my-org:custom:AbC123",
                "/v1/models/dall-e-3",
                "/v1/models?x=1",
                "/v1/models?limit=20&after=a%20b&q=%E2%9C%93",
                "/v1/models/gpt-4o?x=1"
            })
    void passThroughGetForwardsPathAndQueryUnchanged(String pathAndQuery) {
        HttpResponse<String> r = EngineHttp.get(proxy.uri(pathAndQuery));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(UPSTREAM_ANSWER);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getMethod().getName()).isEqualTo("GET");
        assertThat(sent.getUrl()).isEqualTo(pathAndQuery);
        assertThat(sent.getBody()).isEmpty();
        assertThat(sent.containsHeader("Content-Type")).isFalse();
    }

    /**
     * Model ids with a slash (OpenRouter, vLLM, Together) or colons (fine-tuned models): the upstream gets the id with
     * a raw slash, as the Node and Python SDKs send it, however the client encoded it.
     */
    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "/v1/models/meta-llama/Llama-3.1-8B-Instruct, /v1/models/meta-llama/Llama-3.1-8B-Instruct",
        "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct, /v1/models/meta-llama/Llama-3.1-8B-Instruct",
        "/v1/models/meta-llama%2fLlama-3.1-8B-Instruct?x=1, /v1/models/meta-llama/Llama-3.1-8B-Instruct?x=1",
        "/v1/models/ft:gpt-4o-mini-2024-07-18:org::AbC123, /v1/models/ft:gpt-4o-mini-2024-07-18:org::AbC123",
        "/v1/models/ft%3Agpt-4o-mini%3Aorg%3A%3Aid, /v1/models/ft%3Agpt-4o-mini%3Aorg%3A%3Aid"
    })
    void aModelIdWithSlashesOrColonsReachesTheUpstreamWithRawSlashes(String sent, String received) {
        HttpResponse<String> r = EngineHttp.get(proxy.uri(sent));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(UPSTREAM_ANSWER);
        assertThat(Upstream.onlyRequest(upstream).getUrl()).isEqualTo(received);
    }

    @Test
    void aPassThroughQueryThatIsNotValidlyEncodedIs400NotAServerError() {
        HttpResponse<String> r = EngineHttp.get(proxy.uri("/v1/models?%zz=%%&a=1"));

        assertThat(assertOpenAiError(r, 400, "invalid_request_error", "invalid_request")
                        .path("message")
                        .textValue())
                .contains("query string");
        Upstream.assertNoCalls(upstream);

        // The simple routes never forward the query, so there it does not matter.
        HttpResponse<String> simple =
                EngineHttp.postJson(proxy.uri("/?%zz"), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(simple.statusCode()).as(simple.body()).isEqualTo(200);
    }

    @Test
    void simpleRoutesDoNotForwardTheClientsQuery() {
        HttpResponse<String> r = EngineHttp.postJson(
                proxy.uri("/?model=gpt-4o&api-version=2024"),
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getUrl()).isEqualTo("/v1/chat/completions");
    }

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource({
        "POST, /v1/embeddings,            200",
        "POST, /v1/moderations,           200",
        "GET,  /v1/files/file-abc123,     200",
        "POST, /v1/chat/completions,      404",
        "POST, /v1/images/generations,    404",
        "POST, /v1/responses,             404",
        "GET,  /v1/models,                404",
        "GET,  /v1/models/gpt-4o,         404",
    })
    void configuredPassThroughRoutesReplaceTheDefaults(String method, String path, int status) {
        HttpResponse<String> r = EngineHttp.call(
                method,
                customRoutes.uri(path),
                method.equals("GET") ? null : "{\"input\":\"x\"}",
                "Content-Type",
                "application/json");

        if (status == 200) {
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            LoggedRequest sent = Upstream.onlyRequest(upstream);
            assertThat(sent.getMethod().getName()).isEqualTo(method);
            assertThat(sent.getUrl()).isEqualTo(path);
        } else {
            JsonNode error = assertOpenAiError(r, 404, "invalid_request_error", "unknown_url");
            assertThat(error.path("message").textValue()).contains(path);
            Upstream.assertNoCalls(upstream);
        }
    }

    @Test
    void configuredPassThroughRoutesKeepTheSimpleRoutes() {
        HttpResponse<String> r =
                EngineHttp.postJson(customRoutes.uri("/"), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getUrl()).isEqualTo("/v1/chat/completions");
    }

    /**
     * A base URL with a path is the API root, as the SDKs take it: OpenAI's paths follow it without their {@code /v1}
     * (Gemini's {@code .../v1beta/openai}, a gateway's {@code .../openai}); one ending in {@code /v1} reads the same.
     */
    @ParameterizedTest
    @CsvSource({"/compat,", "/compat/,", "/compat/v1, /v1", "/compat/v1/, /v1"})
    void anUpstreamBaseUrlWithAPathKeepsItForEveryRoute(String basePath, String version) {
        String root = "/compat" + (version == null ? "" : version);
        try (EngineServer prefixed = EngineServer.of(Upstream.config(upstream)
                .upstream(Upstream.upstreamConfig(upstream).withBaseUrl(URI.create(upstream.baseUrl() + basePath)))
                .build())) {
            EngineHttp.postJson(prefixed.uri("/"), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            EngineHttp.postJson(prefixed.uri("/images/generations"), "{\"prompt\":\"a cat\"}");
            EngineHttp.get(prefixed.uri("/v1/models/gpt-4o?x=1"));

            assertThat(Upstream.requests(upstream))
                    .extracting(LoggedRequest::getUrl)
                    .containsExactly(
                            root + "/chat/completions", root + "/images/generations", root + "/models/gpt-4o?x=1");
        }
    }

    @Test
    void aUserAddedRouteTakesBodiesThatAreNotJson() {
        HttpResponse<String> r = EngineHttp.call(
                "POST", customRoutes.uri("/v1/moderations"), "plain words", "Content-Type", "text/plain");

        assertThat(r.statusCode()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getBodyAsString()).isEqualTo("plain words");
        assertThat(sent.getHeader("Content-Type")).isEqualTo("text/plain");
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "GET,    /v1/unknown,                     openai",
        "POST,   /v1/chat,                        openai",
        "GET,    /v1,                             openai",
        "GET,    /v1/,                            openai",
        "GET,    /v1/models/a//b,                 openai",
        "GET,    /v1/models/a/../files,           openai",
        "POST,   /v1/chat/completions/extra,      openai",
        "POST,   /v1/audio/speech,                openai",
        "GET,    /v1/models/%2e%2e,               openai",
        "GET,    /v1/models/a%3Fb,                openai",
        "POST,   /foo,                            seed",
        "GET,    /favicon.ico,                    seed",
        "POST,   /images,                         seed",
        "POST,   /images/generations/extra,       seed",
        "POST,   /graphql,                        seed",
        "GET,    /V1/models,                      seed",
        "GET,    /v2/models,                      seed",
    })
    void unknownPathsAre404JsonInTheRouteFamilysShape(String method, String path, String style) {
        HttpResponse<String> r = EngineHttp.call(
                method,
                proxy.uri(path),
                method.equals("GET") ? null : "{\"messages\":[]}",
                "Content-Type",
                "application/json");

        String message;
        if (style.equals("openai")) {
            message = assertOpenAiError(r, 404, "invalid_request_error", "unknown_url")
                    .path("message")
                    .textValue();
        } else {
            message = assertSeedError(r, 404, "Not Found");
        }
        assertThat(message).startsWith("No route for " + method + " ");
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "GET,     /,                        'OPTIONS, POST', seed",
        "PUT,     /,                        'OPTIONS, POST', seed",
        "DELETE,  /,                        'OPTIONS, POST', seed",
        "GET,     /images/generations,      'OPTIONS, POST', seed",
        "PATCH,   /generate-image,          'OPTIONS, POST', seed",
        "GET,     /v1/chat/completions,     'OPTIONS, POST', openai",
        "PUT,     /v1/images/generations,   'OPTIONS, POST', openai",
        "DELETE,  /v1/embeddings,           'OPTIONS, POST', openai",
        "GET,     /v1/responses,            'OPTIONS, POST', openai",
        "POST,    /v1/models,               'GET, HEAD, OPTIONS', openai",
        "DELETE,  /v1/models/ft:gpt-4o:x,   'GET, HEAD, OPTIONS', openai",
        "PUT,     /v1/models/gpt-4o,        'GET, HEAD, OPTIONS', openai",
    })
    void wrongMethodOnAKnownRouteIs405WithAllow(String method, String path, String allow, String style) {
        HttpResponse<String> r = EngineHttp.call(
                method,
                proxy.uri(path),
                method.equals("GET") ? null : "{\"messages\":[]}",
                "Content-Type",
                "application/json");

        assertThat(r.headers().firstValue("Allow")).contains(allow);
        String message;
        if (style.equals("openai")) {
            message = assertOpenAiError(r, 405, "invalid_request_error", "method_not_allowed")
                    .path("message")
                    .textValue();
        } else {
            message = assertSeedError(r, 405, "Method Not Allowed");
        }
        assertThat(message).contains(method).contains(allow);
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "OPTIONS {0}")
    @CsvSource({
        "/,                         'OPTIONS, POST'",
        "/images/generations,       'OPTIONS, POST'",
        "/generate-image,           'OPTIONS, POST'",
        "/v1/chat/completions,      'OPTIONS, POST'",
        "/v1/images/generations,    'OPTIONS, POST'",
        "/v1/embeddings,            'OPTIONS, POST'",
        "/v1/responses,             'OPTIONS, POST'",
        "/v1/models,                'GET, HEAD, OPTIONS'",
        "/v1/models/gpt-4o,         'GET, HEAD, OPTIONS'",
    })
    void plainOptionsOnEveryRouteAnswersAllow(String path, String allow) {
        HttpResponse<String> r = EngineHttp.call("OPTIONS", proxy.uri(path), null);

        assertThat(r.statusCode()).isEqualTo(204);
        assertThat(r.headers().firstValue("Allow")).contains(allow);
        assertThat(r.body()).isEmpty();
        assertThat(r.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        Upstream.assertNoCalls(upstream);
    }
}
