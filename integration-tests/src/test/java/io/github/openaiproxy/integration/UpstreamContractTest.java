package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.integration.support.OpenApiSchemas;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The proxy against OpenAI's own specification (the copy in {@code spec/openai-openapi/}): what it
 * sends upstream on the simple routes, where it writes the body itself, must be a valid
 * {@code CreateChatCompletionRequest} or {@code CreateImageRequest} with no field OpenAI does not declare;
 * the canned answers the other tests' stubs give must be valid responses; and the errors the proxy
 * makes up on the {@code /v1} routes must be valid {@code ErrorResponse}s, or the SDKs could not read them.
 */
class UpstreamContractTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static OpenApiSchemas spec;

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    final HttpClient http = HttpClient.newHttpClient();
    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    @BeforeAll
    static void loadSpec() {
        spec = OpenApiSchemas.get();
    }

    static void assertValid(String schema, JsonNode instance) {
        assertThat(spec.validate(schema, instance))
                .as("%s against %s", instance, schema)
                .isEmpty();
    }

    // --- the checker itself: it must resolve $refs, honour nullable, and reject what OpenAI rejects
    @Test
    void rejectsRequestsOpenAiWouldReject() throws Exception {
        assertThat(spec.validate("CreateChatCompletionRequest", "{\"model\":\"gpt-4o\"}"))
                .as("messages missing")
                .isNotEmpty();
        assertThat(spec.validate("CreateChatCompletionRequest", "{\"model\":\"gpt-4o\",\"messages\":[]}"))
                .as("messages empty (minItems 1)")
                .isNotEmpty();
        assertThat(spec.validate(
                        "CreateChatCompletionRequest",
                        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}"))
                .as("unknown role, found only through $ref into ChatCompletionRequestMessage")
                .isNotEmpty();
        assertThat(
                        spec.validate(
                                "CreateChatCompletionRequest",
                                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":\"hot\"}"))
                .as("temperature not a number")
                .isNotEmpty();
        assertThat(spec.validate("CreateImageRequest", "{\"prompt\":\"otter\",\"n\":0}"))
                .as("n below 1")
                .isNotEmpty();
        assertThat(spec.validate("CreateImageRequest", "{\"n\":1}"))
                .as("prompt missing")
                .isNotEmpty();
        assertThat(spec.validate("ErrorResponse", "{\"error\":{\"message\":\"x\"}}"))
                .as("error without type, param, code")
                .isNotEmpty();
    }

    @Test
    void acceptsNullWhereTheSpecSaysNullable() {
        // CreateImageRequest.model and .n are "nullable: true" (OpenAPI 3.0 style) in the document.
        assertThat(spec.validate("CreateImageRequest", "{\"prompt\":\"otter\",\"model\":null,\"n\":null}"))
                .isEmpty();
        assertThat(
                        spec.validate(
                                "CreateChatCompletionRequest",
                                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":null}"))
                .isEmpty();
    }

    // --- what the proxy writes upstream on the simple routes

    private TomcatProxy proxyOnWireMock() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.CHAT_COMPLETION)));
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.IMAGES)));
        // A request that asks for a stream gets one: the simple routes accept nothing else then.
        for (String path : new String[] {"/v1/chat/completions", "/v1/images/generations"}) {
            upstream.stubFor(post(path)
                    .atPriority(1)
                    .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath(
                            "$.stream", com.github.tomakehurst.wiremock.client.WireMock.equalTo("true")))
                    .willReturn(aResponse()
                            .withHeader("Content-Type", "text/event-stream")
                            .withBody("data: {}\n\ndata: [DONE]\n\n")));
        }
        proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .build());
        return proxy;
    }

    static Stream<Arguments> chat() {
        return Stream.of(
                Arguments.of("the seed's minimal body", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}"),
                Arguments.of("a conversation with sampling options", """
                            {"model":"gpt-4o-mini","messages":[
                              {"role":"system","content":"You are terse."},
                              {"role":"user","content":"Hi"},
                              {"role":"assistant","content":"Hello."},
                              {"role":"user","content":"Again"}],
                             "top_p":0.9,"frequency_penalty":0.5,"presence_penalty":-0.5,"stop":["\\n\\n"],"user":"u-42","n":1}
                            """),
                Arguments.of(
                        "explicit zeros kept",
                        "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
                Arguments.of(
                        "a stream",
                        "{\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
                Arguments.of(
                        "max_completion_tokens instead of max_tokens",
                        "{\"model\":\"o3-mini\",\"max_completion_tokens\":500,\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief\"},{\"role\":\"user\",\"content\":\"x\"}]}"),
                Arguments.of("content parts with an image", """
                            {"model":"gpt-4o","messages":[{"role":"user","content":[
                              {"type":"text","text":"What is in this image?"},
                              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}]}
                            """),
                Arguments.of(
                        "nulls for the defaulted fields",
                        "{\"model\":null,\"temperature\":null,\"max_tokens\":null,\"stream\":null,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
                Arguments.of(
                        "an explicit chat action",
                        "{\"action\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
                Arguments.of("tools", """
                            {"model":"gpt-4o","messages":[{"role":"user","content":"Weather in Paris?"}],
                             "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
                             "tool_choice":"auto"}
                            """));
    }

    @ParameterizedTest(name = "POST / chat: {0}")
    @MethodSource("chat")
    void chatOnTheRootRouteSendsAValidCreateChatCompletionRequest(String name, String body) throws Exception {
        JsonNode sent = sendAndCapture("/", body, "/v1/chat/completions");
        assertConforms("CreateChatCompletionRequest", sent);
    }

    static Stream<Arguments> images() {
        return Stream.of(
                Arguments.of(
                        "/images/generations", "the seed's minimal body", "{\"prompt\":\"A cute baby sea otter\"}"),
                Arguments.of(
                        "/images/generations",
                        "dall-e-3 in hd",
                        "{\"model\":\"dall-e-3\",\"prompt\":\"A lighthouse\",\"size\":\"1792x1024\",\"quality\":\"hd\",\"style\":\"natural\",\"response_format\":\"b64_json\"}"),
                Arguments.of(
                        "/images/generations",
                        "dall-e-2 with several images",
                        "{\"model\":\"dall-e-2\",\"prompt\":\"A cat\",\"n\":3,\"size\":\"512x512\",\"style\":\"vivid\"}"),
                Arguments.of(
                        "/images/generations",
                        "gpt-image-1 with its own options",
                        "{\"model\":\"gpt-image-1\",\"prompt\":\"A logo\",\"n\":2,\"size\":\"1536x1024\",\"quality\":\"high\",\"background\":\"transparent\",\"output_format\":\"webp\",\"output_compression\":80,\"moderation\":\"low\"}"),
                Arguments.of(
                        "/images/generations",
                        "gpt-image-1 streaming partial images",
                        "{\"model\":\"gpt-image-1\",\"prompt\":\"A fox\",\"stream\":true,\"partial_images\":2}"),
                Arguments.of(
                        "/images/generations",
                        "a model the proxy does not know",
                        "{\"model\":\"my-image-model\",\"prompt\":\"A boat\",\"user\":\"u-1\"}"),
                Arguments.of("/generate-image", "the alias", "{\"prompt\":\"A tree\",\"size\":\"1024x1792\"}"),
                Arguments.of("/", "POST / with a prompt and no messages", "{\"prompt\":\"A red panda\"}"),
                Arguments.of(
                        "/",
                        "POST / with action generate-image",
                        "{\"action\":\"generate-image\",\"prompt\":\"A mountain\",\"n\":1}"));
    }

    @ParameterizedTest(name = "POST {0}: {1}")
    @MethodSource("images")
    void imageRoutesSendAValidCreateImageRequest(String path, String name, String body) throws Exception {
        JsonNode sent = sendAndCapture(path, body, "/v1/images/generations");
        assertConforms("CreateImageRequest", sent);
    }

    private JsonNode sendAndCapture(String path, String body, String upstreamPath) throws Exception {
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(proxyOnWireMock().uri(path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("proxy status, body %s", r.body()).isEqualTo(200);
        List<LoggedRequest> got = upstream.findAll(com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor(
                com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo(upstreamPath)));
        assertThat(got).hasSize(1);
        return JSON.readTree(got.get(0).getBody());
    }

    private void assertConforms(String schema, JsonNode sent) {
        assertValid(schema, sent);
        List<String> unknown = new ArrayList<>();
        Iterator<String> fields = sent.fieldNames();
        fields.forEachRemaining(f -> {
            if (!spec.declaredProperties(schema).contains(f)) {
                unknown.add(f);
            }
        });
        assertThat(unknown)
                .as("fields %s does not declare, in %s", schema, sent)
                .isEmpty();
    }

    // --- the canned answers of the other tests are real OpenAI answers
    @Test
    void responsesMatchTheirSchemas() throws Exception {
        assertValid("CreateChatCompletionResponse", JSON.readTree(OpenAiFixtures.CHAT_COMPLETION));
        assertValid("CreateEmbeddingResponse", JSON.readTree(OpenAiFixtures.EMBEDDING));
        assertValid("ImagesResponse", JSON.readTree(OpenAiFixtures.IMAGES));
        assertValid("ListModelsResponse", JSON.readTree(OpenAiFixtures.MODELS));
        assertValid("Model", JSON.readTree(OpenAiFixtures.MODEL));
        assertValid("ErrorResponse", JSON.readTree(OpenAiFixtures.RATE_LIMITED));
        assertValid("ErrorResponse", JSON.readTree(OpenAiFixtures.SERVER_ERROR));
        assertValid("ErrorResponse", JSON.readTree(OpenAiFixtures.unauthorized("sk-server-key-123456")));
    }

    @Test
    void streamChunksMatchCreateChatCompletionStreamResponse() throws Exception {
        for (String event : OpenAiFixtures.chatStreamEvents("Hel", "lo")) {
            String data = event.substring("data: ".length()).strip();
            if (!data.equals("[DONE]")) {
                assertValid("CreateChatCompletionStreamResponse", JSON.readTree(data));
            }
        }
    }

    // --- errors the proxy makes up on /v1 routes, which the SDKs parse as OpenAI errors

    @Test
    void theErrorEventOfABrokenStreamIsAnErrorResponse() throws Exception {
        try (StubUpstream upstream = StubUpstream.start(ex -> {
                    ex.head(200, "Content-Type", "text/event-stream");
                    ex.chunk("data: " + OpenAiFixtures.contentChunk("Hi") + "\n\n");
                    ex.chunk("data: {\"id\":");
                    ex.reset();
                });
                TomcatProxy proxy = TomcatProxy.servlet(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                        .build())) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                            .header("Content-Type", "application/json")
                            .POST(
                                    HttpRequest.BodyPublishers.ofString(
                                            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            String[] events = r.body().split("\n\n");
            String last = events[events.length - 1];
            assertThat(last).startsWith("data: {\"error\"");
            assertValid("ErrorResponse", JSON.readTree(last.substring("data: ".length())));
        }
    }

    @Test
    void anUnreachableUpstreamIsAnErrorResponse() throws Exception {
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        try (TomcatProxy proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:" + closedPort)))
                .build())) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(proxy.uri("/v1/chat/completions"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(502);
            assertValid("ErrorResponse", JSON.readTree(r.body()));
        }
    }
}
