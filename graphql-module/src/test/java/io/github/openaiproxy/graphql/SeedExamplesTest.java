package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every GraphQL example of the seed README, verbatim, over real HTTP against a WireMock upstream. */
class SeedExamplesTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static GraphQlServer server;

    /** README "聊天对话 API / GraphQL 方式", the request body as printed. */
    static final String CHAT_EXAMPLE = fixture("chat-request.json");

    /** README "图片生成 API / GraphQL 方式", the request body as printed. */
    static final String IMAGE_EXAMPLE = fixture("image-request.json");

    /** README "GraphQL Schema 示例", the four operations as printed. */
    static final String SCHEMA_CHAT = fixture("get-ai-response.graphql");

    static final String SCHEMA_IMAGE = fixture("generate-image.graphql");

    static final String SCHEMA_CREATE_SESSION = fixture("create-session.graphql");

    static final String SCHEMA_CHAT_HISTORY = fixture("chat-history.graphql");

    @BeforeAll
    static void start() {
        server = GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static JsonNode ok(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type").orElseThrow()).startsWith("application/json");
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.has("errors")).as(r.body()).isFalse();
        return body.get("data");
    }

    static String request(String query, Map<String, Object> variables) throws Exception {
        return JSON.writeValueAsString(Map.of("query", query, "variables", variables));
    }

    void stubImage() {
        upstream.server()
                .stubFor(WireMock.post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(
                                        "{\"created\":1700000000,\"data\":[{\"url\":\"https://images.example/city.png\","
                                                + "\"revised_prompt\":\"A city\"}]}")));
    }

    @Test
    void chatExampleAnswersTheDocumentedShape() throws Exception {
        upstream.echoChats();

        JsonNode answer = ok(server.post(CHAT_EXAMPLE)).get("getAIResponse");

        assertThat(answer.get("id").asText()).isEqualTo("chatcmpl-echo");
        assertThat(answer.get("content").asText()).isEqualTo("re: Hello!");
        assertThat(answer.get("isUser").asBoolean()).isFalse();
        assertThat(Instant.parse(answer.get("timestamp").asText())).isBeforeOrEqualTo(Instant.now());
        assertThat(answer.get("success").asBoolean()).isTrue();
        assertThat(answer.get("error").isNull()).isTrue();
        assertThat(fieldNames(answer)).containsExactly("id", "content", "isUser", "timestamp", "success", "error");
        JsonNode sent = JSON.readTree(upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")))
                .get(0)
                .getBodyAsString());
        assertThat(sent.get("model").asText()).isEqualTo("gpt-3.5-turbo");
        assertThat(sent.get("temperature").asDouble()).isEqualTo(0.7);
        assertThat(sent.get("max_tokens").asInt()).isEqualTo(1000);
        assertThat(sent.get("stream").asBoolean()).isFalse();
        assertThat(sent.get("messages").get(0).get("content").asText()).isEqualTo("Hello!");
    }

    @Test
    void imageExampleAnswersTheDocumentedShape() throws Exception {
        stubImage();

        JsonNode answer = ok(server.post(IMAGE_EXAMPLE)).get("generateImage");

        assertThat(answer.get("id").asText()).startsWith("img_");
        assertThat(answer.get("prompt").asText()).isEqualTo("A futuristic city with flying cars");
        assertThat(answer.get("images").get(0).get("url").asText()).isEqualTo("https://images.example/city.png");
        assertThat(answer.get("model").asText()).isEqualTo("dall-e-3");
        assertThat(answer.get("size").asText()).isEqualTo("1024x1024");
        assertThat(answer.get("quality").asText()).isEqualTo("hd");
        assertThat(answer.get("style").asText()).isEqualTo("vivid");
        assertThat(answer.get("success").asBoolean()).isTrue();
        JsonNode sent = JSON.readTree(upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/images/generations")))
                .get(0)
                .getBodyAsString());
        assertThat(sent.get("n").asInt()).isEqualTo(1);
        assertThat(sent.get("response_format").asText()).isEqualTo("url");
    }

    @Test
    void generateImageTakesTheGptImageModelsFields() throws Exception {
        // gpt-image-2 and later are the live image models: a transparent or JPEG image needs these fields.
        upstream.server()
                .stubFor(
                        WireMock.post("/v1/images/generations")
                                .willReturn(
                                        aResponse()
                                                .withHeader("Content-Type", "application/json")
                                                .withBody(
                                                        "{\"created\":1,\"data\":[{\"b64_json\":\"AA==\"}],\"output_format\":\"webp\"}")));

        JsonNode answer = ok(server.post(request(
                        "mutation { generateImage(input: {prompt: \"a logo\", model: \"gpt-image-2\", background: "
                                + "\"transparent\", output_format: \"webp\", output_compression: 80, moderation: \"low\"})"
                                + " { success images { b64_json } } }",
                        Map.of())))
                .get("generateImage");

        assertThat(answer.get("success").asBoolean()).isTrue();
        assertThat(answer.at("/images/0/b64_json").asText()).isEqualTo("AA==");
        JsonNode sent = JSON.readTree(upstream.server()
                .findAll(postRequestedFor(urlEqualTo("/v1/images/generations")))
                .get(0)
                .getBodyAsString());
        assertThat(sent.get("background").asText()).isEqualTo("transparent");
        assertThat(sent.get("output_format").asText()).isEqualTo("webp");
        assertThat(sent.get("output_compression").asInt()).isEqualTo(80);
        assertThat(sent.get("moderation").asText()).isEqualTo("low");
    }

    @Test
    void schemaExamplesRunAsASessionConversation() throws Exception {
        upstream.echoChats();
        stubImage();

        JsonNode created =
                ok(server.post(request(SCHEMA_CREATE_SESSION, Map.of()))).get("createSession");
        assertThat(created.get("success").asBoolean()).isTrue();
        String sessionId = created.get("sessionId").asText();
        assertThat(fieldNames(created)).containsExactly("sessionId", "success");

        Map<String, Object> input = Map.of(
                "sessionId", sessionId, "messages", java.util.List.of(Map.of("role", "user", "content", "Hello!")));
        JsonNode reply =
                ok(server.post(request(SCHEMA_CHAT, Map.of("input", input)))).get("getAIResponse");
        assertThat(reply.get("content").asText()).isEqualTo("re: Hello!");

        JsonNode image = ok(server.post(request(SCHEMA_IMAGE, Map.of("input", Map.of("prompt", "A cat")))))
                .get("generateImage");
        assertThat(image.get("images").get(0).has("b64_json")).isTrue();
        assertThat(image.get("images").get(0).get("b64_json").isNull()).isTrue();
        assertThat(image.get("model").asText()).as("the proxy's default").isEqualTo("dall-e-3");
        assertThat(image.get("quality").asText()).isEqualTo("standard");

        JsonNode history = ok(server.post(request(SCHEMA_CHAT_HISTORY, Map.of("sessionId", sessionId))))
                .get("chatHistory");
        assertThat(history).hasSize(2);
        assertThat(history.get(0).get("content").asText()).isEqualTo("Hello!");
        assertThat(history.get(0).get("isUser").asBoolean()).isTrue();
        assertThat(history.get(1).get("content").asText()).isEqualTo("re: Hello!");
        assertThat(history.get(1).get("isUser").asBoolean()).isFalse();
        assertThat(history.get(1).get("id").asText()).isEqualTo(reply.get("id").asText());
        assertThat(history.get(1).get("timestamp").asText())
                .isEqualTo(reply.get("timestamp").asText());
        assertThat(fieldNames(history.get(0))).containsExactly("id", "content", "isUser", "timestamp");
    }

    @Test
    void theExamplesAreTheSeedReadmesVerbatim() throws Exception {
        // The seed README is kept in the repository (spec/seed); tests run in graphql-module/.
        Path seed = Path.of("../spec/seed/README.zh.md");
        assertThat(seed).as("the seed README copy in the repository").isRegularFile();
        String readme = Files.readString(seed);
        for (String example : new String[] {
            CHAT_EXAMPLE, IMAGE_EXAMPLE, SCHEMA_CHAT, SCHEMA_IMAGE, SCHEMA_CREATE_SESSION, SCHEMA_CHAT_HISTORY
        }) {
            assertThat(readme).contains(example);
        }
    }

    /** A seed example kept as a test fixture; a missing fixture fails the class, it never skips. */
    static String fixture(String name) {
        try (InputStream in = SeedExamplesTest.class.getResourceAsStream("/seed-examples/" + name)) {
            if (in == null) {
                throw new IllegalStateException("missing test fixture seed-examples/" + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).stripTrailing();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static java.util.List<String> fieldNames(JsonNode n) {
        java.util.List<String> names = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
