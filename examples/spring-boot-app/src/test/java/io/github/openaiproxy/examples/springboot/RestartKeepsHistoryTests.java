package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The example application keeps chat sessions in an H2 file: started, given a conversation, stopped and
 * started again on the same file, it still has the history (over REST and GraphQL).
 */
class RestartKeepsHistoryTests {
    static final ObjectMapper JSON = new ObjectMapper();
    final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    ConfigurableApplicationContext start() {
        return new SpringApplicationBuilder(SpringBootProxyApplication.class)
                .run(
                        "--server.port=0",
                        "--spring.profiles.active=demo", // the bundled fake upstream answers
                        "--openai.proxy.api-key=",
                        "--openai.proxy.cors.allowed-origins=",
                        // As the default (an H2 file), in a directory of this test's own.
                        "--spring.datasource.url=jdbc:h2:file:" + dir.resolve("sessions") + ";DB_CLOSE_ON_EXIT=FALSE");
    }

    static String base(ConfigurableApplicationContext app) {
        return "http://127.0.0.1:" + app.getEnvironment().getProperty("local.server.port");
    }

    HttpResponse<String> send(HttpRequest request) throws Exception {
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> postJson(String url, String json) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .build());
    }

    JsonNode messages(String base, String sessionId) throws Exception {
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(base + "/sessions/" + sessionId + "/messages"))
                .build());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).get("messages");
    }

    @Test
    void historySurvivesARestart() throws Exception {
        String sessionId;
        JsonNode before;
        try (ConfigurableApplicationContext app = start()) {
            String base = base(app);
            HttpResponse<String> created = postJson(base + "/sessions", "");
            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
            sessionId = JSON.readTree(created.body()).get("sessionId").asText();

            HttpResponse<String> chat = postJson(
                    base + "/",
                    "{\"sessionId\":\"" + sessionId
                            + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Remember me\"}]}");
            assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
            before = messages(base, sessionId);
            assertThat(before).hasSize(2);
        }

        try (ConfigurableApplicationContext app = start()) {
            String base = base(app);
            JsonNode after = messages(base, sessionId);
            assertThat(after).isEqualTo(before);
            assertThat(after.get(0).get("content").asText()).isEqualTo("Remember me");
            assertThat(after.get(1).get("content").asText()).contains("[demo]");

            HttpResponse<String> graphQl = postJson(
                    base + "/graphql",
                    "{\"query\":\"query ChatHistory($sessionId: String) { chatHistory(sessionId: $sessionId)"
                            + " { id content isUser } }\",\"variables\":{\"sessionId\":\"" + sessionId + "\"}}");
            assertThat(graphQl.statusCode()).as(graphQl.body()).isEqualTo(200);
            JsonNode history = JSON.readTree(graphQl.body()).at("/data/chatHistory");
            assertThat(history).hasSize(2);
            assertThat(history.get(1).get("id").asText())
                    .isEqualTo(before.get(1).get("id").asText());
        }
    }
}
