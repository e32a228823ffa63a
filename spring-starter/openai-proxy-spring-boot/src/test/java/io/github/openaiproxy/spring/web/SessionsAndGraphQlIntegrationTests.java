package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.not;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.session.SessionStore;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Sessions in the application's database and the GraphQL endpoint, with the proxy at {@code /} of an
 * application that has its own {@code GET /}: the filter hands {@code /graphql} and {@code /sessions} to the
 * proxy, the seed's GraphQL examples work verbatim, and REST and GraphQL read the same history.
 */
@SpringBootTest(
        classes = {HostApplication.class, SessionsAndGraphQlIntegrationTests.Database.class},
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"openai.proxy.api-key=" + Upstream.KEY, "openai.proxy.cors.allowed-origins=http://localhost:3000"
        })
class SessionsAndGraphQlIntegrationTests {
    static final WireMockServer upstream = Upstream.start();
    static final ObjectMapper JSON = new ObjectMapper();

    /** The seed README's chat example ("聊天对话 API / GraphQL 方式"), the request body as printed. */
    static final String SEED_CHAT_EXAMPLE = """
            {
              "query": "mutation GetAIResponse($input: ChatInput!) { getAIResponse(input: $input) { id content isUser timestamp success error } }",
              "variables": {
                "input": {
                  "model": "gpt-3.5-turbo",
                  "messages": [
                    { "role": "user", "content": "Hello!" }
                  ],
                  "temperature": 0.7,
                  "max_tokens": 1000
                }
              }
            }""";

    /** The seed README's schema examples. */
    static final String SEED_CREATE_SESSION = """
            mutation CreateSession {
              createSession {
                sessionId
                success
              }
            }""";

    static final String SEED_GET_AI_RESPONSE = """
            mutation GetAIResponse($input: ChatInput!) {
              getAIResponse(input: $input) {
                id
                content
                isUser
                timestamp
                success
                error
              }
            }""";

    static final String SEED_CHAT_HISTORY = """
            query ChatHistory($sessionId: String) {
              chatHistory(sessionId: $sessionId) {
                id
                content
                isUser
                timestamp
              }
            }""";

    @Configuration(proxyBeanMethods = false)
    static class Database {
        @Bean
        DataSource dataSource() {
            JdbcDataSource h2 = new JdbcDataSource();
            h2.setURL("jdbc:h2:mem:spring-sessions;DB_CLOSE_DELAY=-1");
            h2.setUser("sa");
            return h2;
        }
    }

    @LocalServerPort
    int port;

    @Autowired
    DataSource dataSource;

    @Autowired
    SessionStore store;

    final HttpClient http = HttpClient.newHttpClient();

    @DynamicPropertySource
    static void upstream(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
    }

    HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> postJson(String path, String json) throws Exception {
        return send(request(path)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    /** The {@code data} of a successful GraphQL answer. */
    JsonNode graphQl(String query, Map<String, Object> variables) throws Exception {
        return data(postJson("/graphql", JSON.writeValueAsString(Map.of("query", query, "variables", variables))));
    }

    static JsonNode data(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.has("errors")).as(r.body()).isFalse();
        return body.get("data");
    }

    @Test
    void theSeedsChatExampleWorksVerbatim() throws Exception {
        JsonNode answer = data(postJson("/graphql", SEED_CHAT_EXAMPLE)).get("getAIResponse");

        assertThat(answer.get("id").asText()).isEqualTo("chatcmpl-1");
        assertThat(answer.get("content").asText()).isEqualTo("Hello from the upstream");
        assertThat(answer.get("isUser").asBoolean()).isFalse();
        assertThat(Instant.parse(answer.get("timestamp").asText())).isBeforeOrEqualTo(Instant.now());
        assertThat(answer.get("success").asBoolean()).isTrue();
        assertThat(answer.get("error").isNull()).isTrue();
        List<LoggedRequest> sent = upstream.findAll(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withRequestBody(matchingJsonPath("$.model", equalTo("gpt-3.5-turbo")))
                .withHeader("Authorization", equalTo("Bearer " + Upstream.KEY)));
        assertThat(sent).isNotEmpty();
    }

    @Test
    void aGraphQlSessionIsRecordedInTheDatabaseAndReadBackOverGraphQlAndRest() throws Exception {
        JsonNode created = graphQl(SEED_CREATE_SESSION, Map.of()).get("createSession");
        assertThat(created.get("success").asBoolean()).isTrue();
        String sessionId = created.get("sessionId").asText();

        Map<String, Object> input =
                Map.of("sessionId", sessionId, "messages", List.of(Map.of("role", "user", "content", "Hi there")));
        JsonNode reply = graphQl(SEED_GET_AI_RESPONSE, Map.of("input", input)).get("getAIResponse");
        assertThat(reply.get("content").asText()).isEqualTo("Hello from the upstream");

        JsonNode history =
                graphQl(SEED_CHAT_HISTORY, Map.of("sessionId", sessionId)).get("chatHistory");
        assertThat(history).hasSize(2);
        assertThat(history.get(0).get("content").asText()).isEqualTo("Hi there");
        assertThat(history.get(0).get("isUser").asBoolean()).isTrue();
        assertThat(history.get(1).get("content").asText()).isEqualTo("Hello from the upstream");
        assertThat(history.get(1).get("isUser").asBoolean()).isFalse();
        assertThat(history.get(1).get("id").asText()).isEqualTo(reply.get("id").asText());

        // The same history over REST, and in the application's database.
        HttpResponse<String> rest = send(request("/sessions/" + sessionId + "/messages"));
        assertThat(rest.statusCode()).isEqualTo(200);
        JsonNode messages = JSON.readTree(rest.body()).get("messages");
        assertThat(messages).hasSize(2);
        assertThat(messages.get(1).get("id").asText()).isEqualTo(reply.get("id").asText());
        try (Connection c = dataSource.getConnection();
                PreparedStatement p =
                        c.prepareStatement("SELECT COUNT(*) FROM openai_proxy_messages WHERE session_id = ?")) {
            p.setString(1, sessionId);
            try (ResultSet rs = p.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(2);
            }
        }
        assertThat(store.blocking()).as("the JDBC store").isTrue();
    }

    @Test
    void theRestSessionRoutesWorkAtTheRoot() throws Exception {
        HttpResponse<String> created = postJson("/sessions", "");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        String sessionId = JSON.readTree(created.body()).get("sessionId").asText();

        HttpResponse<String> chat = postJson(
                "/", "{\"sessionId\":\"" + sessionId + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}");
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        assertThat(chat.headers().firstValue("X-OpenAI-Proxy-Message-Id")).isPresent();
        upstream.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withRequestBody(matchingJsonPath("$.messages[0].content", equalTo("Hello!")))
                .withRequestBody(not(matchingJsonPath("$.sessionId")))); // taken out before the upstream

        HttpResponse<String> found = send(request("/sessions/" + sessionId));
        assertThat(found.statusCode()).isEqualTo(200);
        JsonNode page = JSON.readTree(
                send(request("/sessions/" + sessionId + "/messages?limit=1")).body());
        assertThat(page.get("messages")).hasSize(1);
        assertThat(page.get("hasMore").asBoolean()).isTrue();

        HttpResponse<String> deleted = send(request("/sessions/" + sessionId).DELETE());
        assertThat(deleted.statusCode()).isEqualTo(200);
        HttpResponse<String> gone = send(request("/sessions/" + sessionId + "/messages"));
        assertThat(gone.statusCode()).isEqualTo(404);
        assertThat(gone.body()).contains("Session Not Found");
    }

    @Test
    void theProxysOwnRoutesGetCorsAndTheApplicationKeepsTheRest() throws Exception {
        HttpResponse<String> preflight = send(request("/graphql")
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "http://localhost:3000")
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type"));
        assertThat(preflight.statusCode()).isEqualTo(204);
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin"))
                .contains("http://localhost:3000");

        // A method the proxy's route does not take is the application's (here: it has no such handler).
        HttpResponse<String> otherMethod = send(request("/sessions"));
        assertThat(otherMethod.statusCode()).isEqualTo(404);
        assertThat(otherMethod.headers().firstValue("Allow")).isEmpty();

        assertThat(send(request("/")).body()).isEqualTo("home of the host");
        assertThat(send(request("/hello")).body()).isEqualTo("hello from the host");
    }
}
