package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.EngineHttp;
import io.github.openaiproxy.core.testing.EngineServer;
import io.github.openaiproxy.core.testing.Upstream;
import java.net.http.HttpResponse;
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
 * The simple routes in process: what the client posts, what OpenAI receives (compared as JSON with
 * nothing extra allowed), and the 400s for bodies the proxy refuses, which come before the key check.
 */
class ProxyEngineNormalizationTableTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static EngineServer proxy;
    /** No key configured: bad input must still be a 400, never the 500 of the missing key. */
    static EngineServer noKey;

    static final String M = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    static final String SEED_CHAT =
            "\"model\":\"gpt-3.5-turbo\",\"temperature\":0.7,\"max_tokens\":1000,\"stream\":false";
    static final String SEED_IMAGE = "\"model\":\"dall-e-3\",\"n\":1,\"size\":\"1024x1024\",\"quality\":\"standard\","
            + "\"style\":\"vivid\",\"response_format\":\"url\"";

    @BeforeAll
    static void start() {
        proxy = EngineServer.of(Upstream.config(upstream).build());
        noKey = EngineServer.of(ProxyConfig.builder()
                .upstream(Upstream.upstreamConfig(upstream))
                .build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
        noKey.close();
    }

    @BeforeEach
    void stubs() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(okJson("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\"}")));
        upstream.stubFor(
                post("/v1/images/generations").willReturn(okJson("{\"created\":1,\"data\":[{\"url\":\"u\"}]}")));
    }

    static Stream<Arguments> chatBodies() {
        return Stream.of(
                arguments("absent fields get the seed defaults", "{" + M + "}", "{" + M + "," + SEED_CHAT + "}"),
                arguments(
                        "null fields get the seed defaults",
                        "{" + M + ",\"model\":null,\"temperature\":null,\"max_tokens\":null,\"stream\":null}",
                        "{" + M + "," + SEED_CHAT + "}"),
                arguments(
                        "explicit values, zeros included, are kept",
                        "{" + M + ",\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":0,\"stream\":false}",
                        "{" + M + ",\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":0,\"stream\":false}"),
                arguments(
                        "other fields are forwarded",
                        "{" + M + ",\"top_p\":0.9,\"frequency_penalty\":0.5,\"presence_penalty\":-0.5,\"user\":\"u-1\","
                                + "\"seed\":7,\"x_unknown\":{\"a\":[1,\"b\",null]}}",
                        "{" + M + "," + SEED_CHAT
                                + ",\"top_p\":0.9,\"frequency_penalty\":0.5,\"presence_penalty\":-0.5,"
                                + "\"user\":\"u-1\",\"seed\":7,\"x_unknown\":{\"a\":[1,\"b\",null]}}"),
                arguments("action is removed", "{\"action\":\"chat\"," + M + "}", "{" + M + "," + SEED_CHAT + "}"),
                arguments(
                        "max_completion_tokens suppresses the max_tokens default",
                        "{" + M + ",\"max_completion_tokens\":50}",
                        "{" + M + ",\"model\":\"gpt-3.5-turbo\",\"temperature\":0.7,\"max_completion_tokens\":50,"
                                + "\"stream\":false}"),
                arguments(
                        "prompt with messages is a chat, and the image field is dropped",
                        "{\"prompt\":\"p\"," + M + "}",
                        "{" + M + "," + SEED_CHAT + "}"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("chatBodies")
    void chatOnRootIsNormalized(String description, String body, String expectedUpstream) {
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri("/"), body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\"}");
        upstream.verify(
                1,
                postRequestedFor(urlEqualTo("/v1/chat/completions"))
                        .withRequestBody(equalToJson(expectedUpstream, false, false)));
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getHeader("Content-Type")).isEqualTo("application/json");
        assertThat(sent.getHeader("Accept")).isEqualTo("application/json");
    }

    @Test
    void aStreamedChatAsksTheUpstreamForAnEventStream() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody("data: {\"choices\":[]}\n\ndata: [DONE]\n\n")));
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri("/"), "{" + M + ",\"stream\":true}");

        assertThat(r.statusCode()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getHeader("Accept")).isEqualTo("text/event-stream");
        assertThat(equalToJson("{" + M + ",\"model\":\"gpt-3.5-turbo\",\"temperature\":0.7,\"max_tokens\":1000,"
                                + "\"stream\":true}")
                        .match(sent.getBodyAsString())
                        .isExactMatch())
                .as(sent.getBodyAsString())
                .isTrue();
    }

    @Test
    void anAcceptHeaderDoesNotDecideStreaming() {
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri("/"), "{" + M + "}", "Accept", "text/event-stream");

        assertThat(r.statusCode()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getHeader("Accept")).isEqualTo("application/json");
        assertThat(sent.getBodyAsString()).contains("\"stream\":false");
    }

    static Stream<Arguments> imageBodies() {
        return Stream.of(
                arguments("/images/generations", "{\"prompt\":\"a cat\"}", "{\"prompt\":\"a cat\"," + SEED_IMAGE + "}"),
                arguments(
                        "/generate-image",
                        "{\"prompt\":\"a cat\",\"model\":null,\"n\":null,\"size\":null,\"quality\":null,\"style\":null,"
                                + "\"response_format\":null}",
                        "{\"prompt\":\"a cat\"," + SEED_IMAGE + "}"),
                arguments(
                        "/",
                        "{\"action\":\"generate-image\",\"prompt\":\"a cat\"}",
                        "{\"prompt\":\"a cat\"," + SEED_IMAGE + "}"),
                arguments("/", "{\"prompt\":\"a cat\"}", "{\"prompt\":\"a cat\"," + SEED_IMAGE + "}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"dall-e-3\",\"size\":\"1792x1024\",\"quality\":\"hd\","
                                + "\"style\":\"natural\",\"response_format\":\"b64_json\",\"user\":\"u\"}",
                        "{\"prompt\":\"p\",\"model\":\"dall-e-3\",\"n\":1,\"size\":\"1792x1024\",\"quality\":\"hd\","
                                + "\"style\":\"natural\",\"response_format\":\"b64_json\",\"user\":\"u\"}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"dall-e-2\"}",
                        "{\"prompt\":\"p\",\"model\":\"dall-e-2\",\"n\":1,\"size\":\"1024x1024\",\"response_format\":\"url\"}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"dall-e-2\",\"n\":4,\"size\":\"256x256\",\"quality\":\"standard\","
                                + "\"style\":\"vivid\"}",
                        "{\"prompt\":\"p\",\"model\":\"dall-e-2\",\"n\":4,\"size\":\"256x256\",\"response_format\":\"url\"}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-1\"}",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-1\",\"n\":1,\"size\":\"1024x1024\"}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-1\",\"quality\":\"high\",\"background\":\"transparent\","
                                + "\"output_format\":\"webp\",\"output_compression\":80}",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-1\",\"n\":1,\"size\":\"1024x1024\",\"quality\":\"high\","
                                + "\"background\":\"transparent\",\"output_format\":\"webp\",\"output_compression\":80}"),
                // Newer GPT image models than the specification's (gpt-image-2.5-*, with quality xhigh and max)
                // are no gpt-image-2: forwarded unchecked, as any model the proxy does not know.
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-2.5-flare\",\"quality\":\"xhigh\"}",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-2.5-flare\",\"quality\":\"xhigh\"}"),
                arguments(
                        "/",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-2.5-sunburst-2026-09-08\",\"quality\":\"max\"}",
                        "{\"prompt\":\"p\",\"model\":\"gpt-image-2.5-sunburst-2026-09-08\",\"quality\":\"max\"}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"model\":\"my-image-model\",\"size\":\"7x7\",\"n\":99,\"quality\":\"ultra\"}",
                        "{\"prompt\":\"p\",\"model\":\"my-image-model\",\"size\":\"7x7\",\"n\":99,\"quality\":\"ultra\"}"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"p\",\"x_unknown\":[1,{\"b\":true}]}",
                        "{\"prompt\":\"p\"," + SEED_IMAGE + ",\"x_unknown\":[1,{\"b\":true}]}"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("imageBodies")
    void imagesAreNormalizedPerModel(String path, String body, String expectedUpstream) {
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri(path), body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"created\":1,\"data\":[{\"url\":\"u\"}]}");
        upstream.verify(
                1,
                postRequestedFor(urlEqualTo("/v1/images/generations"))
                        .withRequestBody(equalToJson(expectedUpstream, false, false)));
        assertThat(Upstream.requests(upstream)).hasSize(1);
    }

    static Stream<Arguments> refusedBodies() {
        String p = "\"prompt\":\"p\"";
        return Stream.of(
                // chat
                arguments("/", "{}", "Invalid messages format", "messages", "must be an array"),
                arguments("/", "{\"messages\":\"hi\"}", "Invalid messages format", "messages", "must be an array"),
                arguments("/", "{\"messages\":{\"role\":\"user\"}}", "Invalid messages format", "messages", "array"),
                arguments("/", "{\"messages\":null}", "Invalid messages format", "messages", "array"),
                arguments("/", "{\"messages\":[]}", "Invalid messages format", "messages", "at least one"),
                arguments("/", "{\"prompt\":null}", "Invalid messages format", "messages", "array"),
                arguments("/", "{" + M + ",\"model\":\"\"}", "Invalid model", "model", "model"),
                arguments("/", "{" + M + ",\"model\":7}", "Invalid model", "model", "model"),
                arguments("/", "{" + M + ",\"stream\":\"true\"}", "Invalid stream flag", "stream", "boolean"),
                arguments("/", "{" + M + ",\"stream\":1}", "Invalid stream flag", "stream", "boolean"),
                // image: the prompt
                arguments("/images/generations", "{}", "Invalid prompt", "prompt", "prompt"),
                arguments("/images/generations", "{\"prompt\":\"\"}", "Invalid prompt", "prompt", "prompt"),
                arguments("/generate-image", "{\"prompt\":\"   \"}", "Invalid prompt", "prompt", "prompt"),
                arguments("/generate-image", "{\"prompt\":42}", "Invalid prompt", "prompt", "prompt"),
                arguments("/", "{\"action\":\"generate-image\"," + M + "}", "Invalid prompt", "prompt", "prompt"),
                arguments("/images/generations", "{" + p + ",\"model\":\"\"}", "Invalid model", "model", "model"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"stream\":\"yes\"}",
                        "Invalid stream flag",
                        "stream",
                        "boolean"),
                // image: per model
                arguments("/images/generations", "{" + p + ",\"n\":2}", "Invalid image request", "n", "dall-e-3"),
                arguments("/images/generations", "{" + p + ",\"n\":\"1\"}", "Invalid image request", "n", "n"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"size\":\"256x256\"}",
                        "Invalid image request",
                        "size",
                        "1792x1024"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"quality\":\"ultra\"}",
                        "Invalid image request",
                        "quality",
                        "hd"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"style\":\"cartoon\"}",
                        "Invalid image request",
                        "style",
                        "natural"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"response_format\":\"png\"}",
                        "Invalid image request",
                        "response_format",
                        "b64_json"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"stream\":true}",
                        "Invalid image request",
                        "stream",
                        "GPT image"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"background\":\"transparent\"}",
                        "Invalid image request",
                        "background",
                        "GPT image"),
                arguments(
                        "/images/generations",
                        "{\"prompt\":\"" + "x".repeat(4001) + "\"}",
                        "Invalid image request",
                        "prompt",
                        "4000"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"dall-e-2\",\"n\":11}",
                        "Invalid image request",
                        "n",
                        "between 1 and 10"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"dall-e-2\",\"n\":0}",
                        "Invalid image request",
                        "n",
                        "between 1 and 10"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"dall-e-2\",\"size\":\"1792x1024\"}",
                        "Invalid image request",
                        "size",
                        "512x512"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"dall-e-2\",\"quality\":\"hd\"}",
                        "Invalid image request",
                        "quality",
                        "standard"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"gpt-image-1\",\"style\":\"vivid\"}",
                        "Invalid image request",
                        "style",
                        "gpt-image-1"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"gpt-image-1\",\"response_format\":\"url\"}",
                        "Invalid image request",
                        "response_format",
                        "b64_json"),
                arguments(
                        "/images/generations",
                        "{" + p + ",\"model\":\"gpt-image-1\",\"output_compression\":101}",
                        "Invalid image request",
                        "output_compression",
                        "0 and 100"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("refusedBodies")
    void refusedBodiesAre400NamingTheFieldEvenWithoutAKey(
            String path, String body, String title, String field, String messageContains) {
        for (EngineServer target : new EngineServer[] {proxy, noKey}) {
            HttpResponse<String> r = EngineHttp.postJson(target.uri(path), body);

            String message = assertSeedError(r, 400, title);
            assertThat(message).contains(field).contains(messageContains);
            assertThat(json(r.body()).path("param").textValue()).isEqualTo(field);
        }
        Upstream.assertNoCalls(upstream);
    }

    static Stream<Arguments> bodiesThatAreNoJsonObject() {
        String notAnObject = "Invalid request body";
        String invalid = "Invalid JSON";
        return Stream.of(
                arguments("null", notAnObject, "must be a JSON object, got null"),
                arguments("[]", notAnObject, "must be a JSON object, got an array"),
                arguments("[{\"messages\":[]}]", notAnObject, "must be a JSON object, got an array"),
                arguments("\"text\"", notAnObject, "must be a JSON object, got a string"),
                arguments("42", notAnObject, "must be a JSON object, got a number"),
                arguments("1.5", notAnObject, "must be a JSON object, got a number"),
                arguments("true", notAnObject, "must be a JSON object, got a boolean"),
                arguments("{\"messages\":[", invalid, "not valid JSON"),
                arguments("{'messages':[]}", invalid, "not valid JSON"),
                arguments("{\"messages\":[],}", invalid, "not valid JSON"),
                arguments("{\"temperature\":NaN,\"messages\":[]}", invalid, "not valid JSON"),
                arguments("{\"messages\":[],\"messages\":[]}", invalid, "not valid JSON"),
                arguments("{\"messages\":[]} trailing", invalid, "not valid JSON"),
                arguments("{\"messages\":[]}{\"messages\":[]}", invalid, "not valid JSON"),
                arguments("hello", invalid, "not valid JSON"),
                arguments("", invalid, "JSON"),
                arguments("   \n", invalid, "JSON"));
    }

    @ParameterizedTest(name = "[{0}]")
    @MethodSource("bodiesThatAreNoJsonObject")
    void bodiesThatAreNoJsonObjectAre400OnEverySimpleRouteEvenWithoutAKey(
            String body, String title, String messageContains) {
        for (EngineServer target : new EngineServer[] {proxy, noKey}) {
            for (String path : new String[] {"/", "/images/generations", "/generate-image"}) {
                HttpResponse<String> r = EngineHttp.postJson(target.uri(path), body);

                assertThat(assertSeedError(r, 400, title)).contains(messageContains);
            }
        }
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void invalidUtf8Is400() {
        byte[] body = {
            '{',
            '"',
            'm',
            'e',
            's',
            's',
            'a',
            'g',
            'e',
            's',
            '"',
            ':',
            '[',
            '"',
            (byte) 0xC3,
            (byte) 0x28,
            '"',
            ']',
            '}'
        };
        HttpResponse<String> r = EngineHttp.send("POST", proxy.uri("/"), body, "Content-Type", "application/json");

        assertSeedError(r, 400, "Invalid JSON");
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest
    @ValueSource(ints = {2_000, 100_000})
    void deeplyNestedJsonIs400NotAServerError(int depth) {
        String body = "{\"messages\":[" + "[".repeat(depth) + "]".repeat(depth) + "]}";
        HttpResponse<String> r = EngineHttp.postJson(proxy.uri("/"), body);

        assertJsonError(r, 400);
        Upstream.assertNoCalls(upstream);
    }
}
