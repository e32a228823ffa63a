package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Failures of the proxy become GraphQL errors with a code, and success:false on the payloads that have it. */
class GraphQlErrorsTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String CHAT =
            "{\"query\":\"mutation { getAIResponse(input: {messages: [{role: \\\"user\\\", content: \\\"Hi\\\"}]})"
                    + " { id content success error } }\"}";
    static final String IMAGE =
            "{\"query\":\"mutation { generateImage(input: {prompt: \\\"x\\\", model: \\\"dall-e-3\\\","
                    + " size: \\\"256x256\\\"}) { id success error } }\"}";

    static JsonNode json(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    static void assertFailedPayload(JsonNode body, String field, String code) {
        assertThat(body.at("/errors/0/extensions/code").asText())
                .as(body.toString())
                .isEqualTo(code);
        assertThat(body.at("/errors/0/path/0").asText()).isEqualTo(field);
        assertThat(body.at("/data/" + field + "/success").asBoolean()).isFalse();
        assertThat(body.at("/data/" + field + "/error").asText())
                .isEqualTo(body.at("/errors/0/message").asText());
    }

    @Test
    void anUpstreamErrorIsUpstreamErrorWithItsStatus() throws Exception {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(429)
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}")));
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode body = json(server.post(CHAT));
            assertFailedPayload(body, "getAIResponse", "UPSTREAM_ERROR");
            assertThat(body.at("/errors/0/extensions/status").asInt()).isEqualTo(429);
            assertThat(body.at("/errors/0/message").asText()).contains("Rate limit reached");
        }
    }

    @Test
    void aRefusedKeyUpstreamIsUnauthenticatedAndNeverEchoed() throws Exception {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(401)
                                .withHeader("Content-Type", "application/json")
                                .withBody(
                                        "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-****wxyz\"}}")));
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            HttpResponse<String> r = server.post(CHAT);
            JsonNode body = json(r);
            assertFailedPayload(body, "getAIResponse", "UNAUTHENTICATED");
            assertThat(r.body()).doesNotContain("sk-proj").doesNotContain("wxyz");
        }
    }

    @Test
    void anUpstream401Or403IsAFixedMessageWithoutTheUpstreamsText() throws Exception {
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            for (int status : new int[] {401, 403}) {
                upstream.server()
                        .stubFor(
                                WireMock.post("/v1/chat/completions")
                                        .willReturn(
                                                aResponse()
                                                        .withStatus(status)
                                                        .withHeader("Content-Type", "application/json")
                                                        .withBody(
                                                                "{\"error\":{\"message\":\"model `gpt-x` of proj_abc: sk-proj-****wxyz\"}}")));

                JsonNode body = json(server.post(CHAT));

                assertFailedPayload(body, "getAIResponse", status == 401 ? "UNAUTHENTICATED" : "UPSTREAM_ERROR");
                assertThat(body.at("/errors/0/extensions/status").asInt()).isEqualTo(status);
                assertThat(body.at("/errors/0/message").asText())
                        .isEqualTo(
                                status == 401
                                        ? "OpenAI API returned 401: The upstream API refused the proxy's API key"
                                        : "OpenAI API returned 403: The upstream API denied the proxy's API key access to"
                                                + " this request");
                assertThat(body.toString()).doesNotContain("gpt-x").doesNotContain("proj_abc");
            }
        }
    }

    /**
     * An upstream error quoting the model (OpenAI's 404) gives the model string back unchanged, whatever the
     * server key contains: a model made of pieces of the key must not come back masked, or the answer tells
     * which piece was guessed right. Key-shaped strings are masked by their shape, like an unrelated one.
     */
    @Test
    void anUpstreamErrorQuotingTheModelDiffersOnlyInTheModelString() throws Exception {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(404)
                                .withTransformers("response-template")
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"error\":{\"message\":\"The model `{{jsonPath request.body '$.model'}}`"
                                        + " does not exist or you do not have access to it.\","
                                        + "\"type\":\"invalid_request_error\",\"param\":null,"
                                        + "\"code\":\"model_not_found\"}}")));
        String key = GraphQlServer.SERVER_KEY;
        Map<String, String> echoes = new LinkedHashMap<>();
        for (int i = 1; i + 8 <= key.length(); i++) {
            echoes.put(key.substring(i, i + 8), key.substring(i, i + 8));
        }
        echoes.put(key.substring(0, 5), key.substring(0, 5));
        echoes.put(key.substring(1), key.substring(1));
        echoes.put("x" + key.substring(1), "x" + key.substring(1));
        echoes.put(key.substring(0, key.length() - 1) + "q", "[redacted]");
        echoes.put(key.substring(0, 12), "[redacted]");
        echoes.put("sk-proj-unrelated0123456789", "[redacted]");
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            String baselineModel = "baseline-model-name";
            // Each error names its own random request id (extensions.requestId): nothing about the key or model.
            String baseline = withoutRequestId(
                    json(server.post(chatWithModel(baselineModel))).toString());
            assertThat(baseline).contains("The model `" + baselineModel + "` does not exist");

            for (Map.Entry<String, String> e : echoes.entrySet()) {
                JsonNode body = json(server.post(chatWithModel(e.getKey())));

                assertFailedPayload(body, "getAIResponse", "UPSTREAM_ERROR");
                assertThat(withoutRequestId(body.toString()))
                        .as("answer for model %s", e.getKey())
                        .isEqualTo(baseline.replace(baselineModel, e.getValue()));
            }
        }
    }

    private static String withoutRequestId(String answer) {
        assertThat(answer).containsPattern("\"requestId\":\"req_proxy_[0-9a-f]{32}\"");
        return answer.replaceAll("req_proxy_[0-9a-f]{32}", "req_proxy_ID");
    }

    private static String chatWithModel(String model) {
        return "{\"query\":\"mutation { getAIResponse(input: {model: \\\"" + model
                + "\\\", messages: [{role: \\\"user\\\", content: \\\"Hi\\\"}]}) { id content success error } }\"}";
    }

    @Test
    void invalidInputIsBadUserInputNamingTheField() throws Exception {
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode body = json(server.post(IMAGE));
            assertFailedPayload(body, "generateImage", "BAD_USER_INPUT");
            assertThat(body.at("/errors/0/extensions/param").asText()).isEqualTo("size");
            assertThat(upstream.server().getAllServeEvents()).isEmpty();
        }
    }

    @Test
    void withoutAServerKeyItIsAnInternalServerError() throws Exception {
        ProxyConfig noKey = ProxyConfig.builder()
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build();
        try (GraphQlServer server = GraphQlServer.start(noKey)) {
            JsonNode body = json(server.post(CHAT));
            assertFailedPayload(body, "getAIResponse", "INTERNAL_SERVER_ERROR");
            assertThat(body.at("/errors/0/message").asText()).isEqualTo("OpenAI API key is not configured");
        }
    }

    @Test
    void aClientKeyWhenClientKeysAreOffIsForbidden() throws Exception {
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode body = json(server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                    .header("Content-Type", "application/json")
                    .header("x-openai-key", "sk-client-123456789")
                    .POST(HttpRequest.BodyPublishers.ofString(CHAT))));
            assertFailedPayload(body, "getAIResponse", "FORBIDDEN");
        }
    }

    @Test
    void aClientKeyGoesUpstreamWhenAllowed() throws Exception {
        upstream.echoChats();
        ProxyConfig config =
                GraphQlServer.config(upstream.baseUrl()).allowClientKey(true).build();
        try (GraphQlServer server = GraphQlServer.start(config)) {
            JsonNode body = json(server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                    .header("Content-Type", "application/json")
                    .header("x-openai-key", "sk-client-123456789")
                    .POST(HttpRequest.BodyPublishers.ofString(CHAT))));
            assertThat(body.at("/data/getAIResponse/success").asBoolean()).isTrue();
            assertThat(upstream.server()
                            .findAll(postRequestedFor(urlEqualTo("/v1/chat/completions")))
                            .get(0)
                            .getHeader("Authorization"))
                    .isEqualTo("Bearer sk-client-123456789");
        }
    }

    @Test
    void anUnreachableUpstreamIsUpstreamError502() throws Exception {
        ProxyConfig config =
                GraphQlServer.config(java.net.URI.create("http://127.0.0.1:9")).build();
        try (GraphQlServer server = GraphQlServer.start(config)) {
            JsonNode body = json(server.post(CHAT));
            assertFailedPayload(body, "getAIResponse", "UPSTREAM_ERROR");
            assertThat(body.at("/errors/0/extensions/status").asInt()).isEqualTo(502);
        }
    }

    @Test
    void anUnknownSessionIsNotFound() throws Exception {
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode history = json(server.post("{\"query\":\"{ chatHistory(sessionId: \\\"ses_nope\\\") { id } }\"}"));
            assertThat(history.at("/errors/0/extensions/code").asText()).isEqualTo("NOT_FOUND");
            assertThat(history.at("/data/chatHistory").isNull()).isTrue();

            JsonNode chat =
                    json(server.post("{\"query\":\"mutation { getAIResponse(input: {sessionId: \\\"ses_nope\\\","
                            + " messages: [{role: \\\"user\\\", content: \\\"Hi\\\"}]}) { success error } }\"}"));
            assertFailedPayload(chat, "getAIResponse", "NOT_FOUND");

            JsonNode deleted = json(server.post("{\"query\":\"mutation { deleteSession(sessionId: \\\"../v1/models\\\")"
                    + " { success error } }\"}"));
            assertFailedPayload(deleted, "deleteSession", "NOT_FOUND");
        }
    }

    @Test
    void aMissingSessionIdOnChatHistoryIsBadUserInput() throws Exception {
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode body = json(
                    server.post(
                            "{\"query\":\"query ChatHistory($sessionId: String) { chatHistory(sessionId: $sessionId) { id } }\"}"));
            assertThat(body.at("/errors/0/extensions/code").asText()).isEqualTo("BAD_USER_INPUT");
            assertThat(body.at("/data/chatHistory").isNull()).isTrue();
        }
    }
}
