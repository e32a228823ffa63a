package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.ActiveProfiles;

/** The example application started in demo mode (its profile), called over HTTP like a user would. */
@ActiveProfiles(DemoModeConfiguration.PROFILE)
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            // Demo mode with its defaults even where OPENAI_API_KEY or OPENAI_PROXY_ALLOWED_ORIGINS are set.
            "openai.proxy.api-key=",
            "openai.proxy.cors.allowed-origins=",
            // Sessions in a private in-memory database rather than the H2 file under the working directory.
            "spring.datasource.url=jdbc:h2:mem:demo-mode-tests;DB_CLOSE_DELAY=-1"
        })
class DemoModeApplicationTests {
    @LocalServerPort
    int port;

    static final ObjectMapper JSON = new ObjectMapper();

    final HttpClient http = HttpClient.newHttpClient();

    HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
    }

    HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void chatOnTheSimpleRouteAnswersCannedAndSaysSo() throws Exception {
        HttpResponse<String> r = send(request("/")
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}")));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("[demo]").contains("Hello!");
        assertThat(r.headers().firstValue(DemoModeConfiguration.HEADER)).isPresent();
    }

    @Test
    void officialSdkStreamsFromTheDemoUpstream() {
        OpenAIClient sdk = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/v1")
                .apiKey("x")
                .maxRetries(0)
                .build();
        try (StreamResponse<ChatCompletionChunk> stream = sdk.chat()
                .completions()
                .createStreaming(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addUserMessage("Stream, please")
                        .build())) {
            String text = stream.stream()
                    .flatMap(c -> c.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
            assertThat(text).contains("[demo]");
        } finally {
            sdk.close();
        }
    }

    @Test
    void localFrontEndsMayCallIt() throws Exception {
        HttpResponse<String> r = send(request("/")
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type"));
        assertThat(r.statusCode()).isEqualTo(204);
        assertThat(r.headers().firstValue("Access-Control-Allow-Origin")).contains("http://localhost:5173");
    }

    @Test
    void aBrowserOpeningTheRootReachesTheChatPage() throws Exception {
        HttpResponse<String> home = send(request("/").header("Accept", "text/html"));
        assertThat(home.statusCode()).isEqualTo(302);
        assertThat(home.headers().firstValue("Location"))
                .hasValueSatisfying(l -> assertThat(l).endsWith("/chat/"));

        HttpResponse<String> page = send(request("/chat/"));
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("text/html"));
        assertThat(page.body()).contains("<html").contains("chat.js");

        HttpResponse<String> script = send(request("/chat/chat.js"));
        assertThat(script.statusCode()).isEqualTo(200);
        assertThat(script.body()).contains("fetch(");
        assertThat(send(request("/chat")).statusCode()).isEqualTo(302);
    }

    @Test
    void theApplicationKeepsActuatorHealthWithoutDetailsForAnonymousCallers() throws Exception {
        HttpResponse<String> health = send(request("/actuator/health"));
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body())
                .contains("\"status\":\"UP\"")
                .doesNotContain("openAiProxy")
                .doesNotContain("details")
                .doesNotContain("127.0.0.1")
                .doesNotContain("demo-key");
    }

    @Test
    void metricsAreNotOnTheWeb() throws Exception {
        // Traffic and model names are not for anonymous callers; they stay in the MeterRegistry.
        assertThat(send(request("/actuator/metrics")).statusCode()).isEqualTo(404);
        assertThat(send(request("/actuator/metrics/openai.proxy.requests")).statusCode())
                .isEqualTo(404);
        assertThat(send(request("/actuator")).body()).doesNotContain("metrics");
    }

    @Test
    void graphQlAnswersFromTheDemoUpstreamAndKeepsTheSessionsHistory() throws Exception {
        JsonNode created = graphQl("mutation CreateSession { createSession { sessionId success } }", Map.of())
                .get("createSession");
        String sessionId = created.get("sessionId").asText();

        Map<String, Object> input =
                Map.of("sessionId", sessionId, "messages", List.of(Map.of("role", "user", "content", "Hello!")));
        JsonNode reply = graphQl(
                        "mutation GetAIResponse($input: ChatInput!) { getAIResponse(input: $input) { id content"
                                + " isUser timestamp success error } }",
                        Map.of("input", input))
                .get("getAIResponse");
        assertThat(reply.get("success").asBoolean()).isTrue();
        assertThat(reply.get("content").asText()).contains("[demo]");

        JsonNode history = graphQl(
                        "query ChatHistory($sessionId: String) { chatHistory(sessionId: $sessionId) { id content"
                                + " isUser timestamp } }",
                        Map.of("sessionId", sessionId))
                .get("chatHistory");
        assertThat(history).hasSize(2);
        assertThat(history.get(0).get("content").asText()).isEqualTo("Hello!");
        assertThat(history.get(1).get("id").asText()).isEqualTo(reply.get("id").asText());
    }

    JsonNode graphQl(String query, Map<String, Object> variables) throws Exception {
        HttpResponse<String> r = send(request("/graphql")
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        JSON.writeValueAsString(Map.of("query", query, "variables", variables)))));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.has("errors")).as(r.body()).isFalse();
        return body.get("data");
    }
}
