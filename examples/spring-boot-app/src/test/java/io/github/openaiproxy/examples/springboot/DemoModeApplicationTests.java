package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/** The example application started with no key, called over HTTP like a user would. */
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        // Demo mode with its defaults even where OPENAI_API_KEY or OPENAI_PROXY_ALLOWED_ORIGINS are set.
        properties = {"openai.proxy.api-key=", "openai.proxy.cors.allowed-origins="})
class DemoModeApplicationTests {
    @LocalServerPort
    int port;

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
    void theApplicationKeepsItsHomePageAndActuator() throws Exception {
        HttpResponse<String> home = send(request("/"));
        assertThat(home.statusCode()).isEqualTo(200);
        assertThat(home.body()).contains("openai-proxy Spring Boot example");

        HttpResponse<String> health = send(request("/actuator/health/openAiProxy"));
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body()).contains("\"status\":\"UP\"").doesNotContain("demo-key");
    }
}
