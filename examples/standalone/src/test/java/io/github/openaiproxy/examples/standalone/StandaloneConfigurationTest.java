package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Configuration from the environment, as a deployment sets it. */
class StandaloneConfigurationTest {
    final HttpClient http = HttpClient.newHttpClient();

    @Test
    void readsOriginsClientKeyModeAndBaseUrlFromTheEnvironment() throws Exception {
        Map<String, String> env = Map.of(
                "OPENAI_API_KEY", "sk-test-1234567890",
                "OPENAI_BASE_URL", "http://127.0.0.1:9/v1",
                "OPENAI_PROXY_ALLOWED_ORIGINS", "https://chat.example.com, http://localhost:*",
                "OPENAI_PROXY_ALLOW_CLIENT_KEY", "true",
                "OPENAI_PROXY_ALLOWED_HOSTS", "localhost, chat.example.com",
                "OPENAI_PROXY_SESSIONS_STORE", "memory");
        try (StandaloneServer server = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", false), env)) {
            assertThat(server.config().cors().allowedOrigins()).containsExactly("https://chat.example.com");
            assertThat(server.config().cors().allowedOriginPatterns()).containsExactly("http://localhost:*");
            assertThat(server.config().keys().allowClientKey()).isTrue();
            assertThat(server.config().allowedHosts().entries()).containsExactly("localhost", "chat.example.com");
            assertThat(server.config().upstream().baseUrl()).isEqualTo(URI.create("http://127.0.0.1:9/v1"));
        }
    }

    @Test
    void withoutAKeyEveryCallIsAConfigurationError() throws Exception {
        try (StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false), Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory"))) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(500);
            assertThat(r.body())
                    .isEqualTo("{\"error\":\"Configuration Error\",\"message\":\"OpenAI API key is not configured\"}");
        }
    }

    @Test
    void aMalformedSettingFailsStartUpNamingIt() {
        assertThatThrownBy(() -> StandaloneServer.start(
                        new StandaloneOptions(0, "127.0.0.1", false), Map.of("OPENAI_PROXY_MAX_BODY_SIZE", "lots")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max-body-size");
    }

    @Test
    void aNegativeGracePeriodFailsStartUpNamingIt() {
        assertThatThrownBy(() -> StandaloneServer.start(
                        new StandaloneOptions(0, "127.0.0.1", false),
                        Map.of("OPENAI_PROXY_SHUTDOWN_GRACE_PERIOD", "-5s")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("OPENAI_PROXY_SHUTDOWN_GRACE_PERIOD")
                .hasMessageContaining("-5s")
                .hasMessageContaining("negative");
    }

    @Test
    void aGraphQlPathTheProxyAlreadyServesFailsStartUpNamingIt() throws Exception {
        Map<String, String> env =
                Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory", "OPENAI_PROXY_GRAPHQL_PATH", "/sessions");
        assertThatThrownBy(() -> StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("Invalid value '/sessions' for setting 'graphql.path' (environment variable"
                        + " OPENAI_PROXY_GRAPHQL_PATH): the proxy already serves this path; choose another, such as"
                        + " /graphql");
        // A path of its own is served.
        Map<String, String> fixed =
                Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory", "OPENAI_PROXY_GRAPHQL_PATH", "/gql");
        try (StandaloneServer server = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), fixed)) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/gql"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString("{\"query\":\"{ __typename }\"}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("{\"data\":{\"__typename\":\"Query\"}}");
        }
    }
}
