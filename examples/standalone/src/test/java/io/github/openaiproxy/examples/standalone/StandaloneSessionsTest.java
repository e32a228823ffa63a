package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Sessions in the standalone server: GraphQL mounted, history in an H2 file across restarts, PostgreSQL shared. */
class StandaloneSessionsTest {
    final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    HttpResponse<String> post(StandaloneServer server, String path, String json) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(StandaloneServer server, String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static String field(String json, String name) {
        int i = json.indexOf("\"" + name + "\":\"") + name.length() + 4;
        return json.substring(i, json.indexOf('"', i));
    }

    StandaloneServer demo(Map<String, String> env) throws Exception {
        return StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env);
    }

    @Test
    void historySurvivesARestartInTheH2File() throws Exception {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_DB_URL", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath());
        String id;
        try (StandaloneServer server = demo(env)) {
            HttpResponse<String> created =
                    post(server, "/graphql", "{\"query\":\"mutation { createSession { sessionId success } }\"}");
            assertThat(created.statusCode()).isEqualTo(200);
            id = field(created.body(), "sessionId");
            HttpResponse<String> chat = post(
                    server,
                    "/graphql",
                    "{\"query\":\"mutation { getAIResponse(input: {sessionId: \\\"" + id
                            + "\\\", messages: [{role: \\\"user\\\", content: \\\"Remember me\\\"}]}) { content success } }\"}");
            assertThat(chat.body()).contains("\"success\":true").contains("[demo]");
        }
        try (StandaloneServer again = demo(env)) {
            HttpResponse<String> history = get(again, "/sessions/" + id + "/messages");
            assertThat(history.statusCode()).isEqualTo(200);
            assertThat(history.body()).contains("\"content\":\"Remember me\"").contains("[demo]");
            HttpResponse<String> viaGraphQl = post(
                    again,
                    "/graphql",
                    "{\"query\":\"query { chatHistory(sessionId: \\\"" + id + "\\\") { content isUser } }\"}");
            assertThat(viaGraphQl.body()).contains("{\"content\":\"Remember me\",\"isUser\":true}");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"jdbc", "memory"})
    void aSessionWithoutNewMessagesForTheRetentionIsGone(String store) throws Exception {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_SESSIONS_STORE",
                store,
                "OPENAI_PROXY_DB_URL",
                "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath(),
                "OPENAI_PROXY_SESSIONS_RETENTION",
                "1s");
        try (StandaloneServer server = demo(env)) {
            long before = System.nanoTime();
            String id = field(post(server, "/sessions", "").body(), "sessionId");
            HttpResponse<String> fresh = get(server, "/sessions/" + id);
            if (System.nanoTime() - before < 900_000_000L) { // a very slow machine may already be past it
                assertThat(fresh.statusCode()).as(fresh.body()).isEqualTo(200);
            }

            Thread.sleep(1_500); // the retention is wall-clock time: nothing to wait on but the clock
            HttpResponse<String> later = get(server, "/sessions/" + id);
            assertThat(later.statusCode()).as(later.body()).isEqualTo(404);
            assertThat(get(server, "/sessions/" + id + "/messages").statusCode())
                    .isEqualTo(404);
        }
    }

    @Test
    void graphQlCanBeSwitchedOff() throws Exception {
        try (StandaloneServer server =
                demo(Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory", "OPENAI_PROXY_GRAPHQL_ENABLED", "false"))) {
            assertThat(post(server, "/graphql", "{\"query\":\"{ __typename }\"}")
                            .statusCode())
                    .isEqualTo(404);
        }
    }

    @Test
    void badStorageSettingsFailStartUpNamingThem() {
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_SESSIONS_STORE", "redis")))
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_STORE");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_DB_URL", "postgres://x")))
                .hasMessageContaining("OPENAI_PROXY_DB_URL");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_SESSIONS_RETENTION", "forever")))
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_RETENTION");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_SESSIONS_RETENTION", "0s")))
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_RETENTION");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_GRAPHQL_MAX_DEPTH", "deep")))
                .hasMessageContaining("graphql.max-depth");
    }

    @Test
    void theLogShowsNoDatabasePassword() {
        assertThat(SessionStorage.describe("jdbc:postgresql://db:5432/chat?user=u&password=secret"))
                .isEqualTo("jdbc:postgresql://db:5432/chat");
        assertThat(SessionStorage.describe("jdbc:h2:file:./data/x;PASSWORD=secret"))
                .isEqualTo("jdbc:h2:file:./data/x");
    }

    /** Two servers on one PostgreSQL database see each other's sessions (needs OPENAI_PROXY_TEST_PG_URL). */
    @Test
    void twoServersShareSessionsInPostgres() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(
                url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set: PostgreSQL test skipped");
        Map<String, String> env = new HashMap<>();
        env.put("OPENAI_PROXY_DB_URL", url);
        env.put("OPENAI_PROXY_DB_USER", System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        env.put("OPENAI_PROXY_DB_PASSWORD", System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        env.put("OPENAI_PROXY_DB_POOL_SIZE", "2");
        try (StandaloneServer a = demo(env);
                StandaloneServer b = demo(env)) {
            String id = field(post(a, "/sessions", "").body(), "sessionId");
            assertThat(post(
                                    b,
                                    "/",
                                    "{\"sessionId\":\"" + id
                                            + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi from b\"}]}")
                            .statusCode())
                    .isEqualTo(200);
            assertThat(get(a, "/sessions/" + id + "/messages").body()).contains("Hi from b");
        }
    }
}
