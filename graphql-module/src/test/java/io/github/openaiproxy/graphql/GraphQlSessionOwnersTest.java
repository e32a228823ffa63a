package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import io.github.openaiproxy.testsupport.BodyReader;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Each GraphQL call runs under its caller's identity, so sessions belong to their owner through GraphQL too:
 * a session that user A created over GraphQL is {@code NOT_FOUND} for user B (and for an anonymous caller) in
 * every operation, with no upstream call, while A uses it as before. The callers are the host application's
 * users as an adapter hands them to the engine ({@link ProxyRequest#user()}), so the engine is called in
 * process here.
 */
class GraphQlSessionOwnersTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final AuthenticatedUser ALICE = new AuthenticatedUser("alice", role -> false);
    static final AuthenticatedUser BOB = new AuthenticatedUser("bob", role -> false);
    static final String CREATE = "mutation { createSession { sessionId success } }";
    static final String ASK =
            "mutation Ask($input: ChatInput!) { getAIResponse(input: $input) { id content success } }";
    static final String HISTORY =
            "query H($id: String) { chatHistory(sessionId: $id, limit: 10) { content isUser sequence } }";
    static final String PAGE = "query P($id: String!) { chatHistoryPage(sessionId: $id, limit: 10)"
            + " { messages { content } hasMore } }";
    static final String DELETE = "mutation D($id: String!) { deleteSession(sessionId: $id) { sessionId success } }";

    static ProxyEngine engine;

    @BeforeAll
    static void start() {
        ProxyConfig config = GraphQlServer.config(upstream.baseUrl()).build();
        engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS))
                .build();
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    /** One GraphQL call by {@code user} ({@code null}: anonymous), as the servlet adapter hands it over. */
    static JsonNode call(AuthenticatedUser user, String query, Map<String, Object> variables) {
        try {
            byte[] body = JSON.writeValueAsBytes(Map.of("query", query, "variables", variables));
            ProxyResponse r = engine.handle(ProxyRequest.builder("POST", "/graphql")
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(body.length))
                            .remoteAddress("127.0.0.1")
                            .user(user)
                            .body(body)
                            .build())
                    .get(30, TimeUnit.SECONDS);
            String text = BodyReader.collect(r.body()).get(30, TimeUnit.SECONDS).text();
            assertThat(r.status()).as(text).isEqualTo(200);
            return JSON.readTree(text);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static JsonNode data(JsonNode answer) {
        assertThat(answer.has("errors")).as(answer.toString()).isFalse();
        return answer.get("data");
    }

    /** The one error of an answer, asserted to be {@code NOT_FOUND}, with the answer's data. */
    static JsonNode notFound(JsonNode answer) {
        assertThat(answer.path("errors")).as(answer.toString()).hasSize(1);
        JsonNode error = answer.path("errors").get(0);
        assertThat(error.at("/extensions/code").asText()).isEqualTo("NOT_FOUND");
        return error;
    }

    static Map<String, Object> input(String sessionId, String content, boolean includeHistory) {
        return Map.of(
                "sessionId",
                sessionId,
                "includeHistory",
                includeHistory,
                "messages",
                List.of(Map.of("role", "user", "content", content)));
    }

    static List<String> history(AuthenticatedUser user, String id) {
        return data(call(user, HISTORY, Map.of("id", id))).get("chatHistory").findValuesAsText("content");
    }

    @Test
    void aSessionCreatedOverGraphQlIsNotFoundForAnyoneButItsCreator() {
        upstream.echoChats();
        String id = data(call(ALICE, CREATE, Map.of()))
                .at("/createSession/sessionId")
                .asText();
        assertThat(data(call(ALICE, ASK, Map.of("input", input(id, "secret plan", false))))
                        .at("/getAIResponse/success")
                        .asBoolean())
                .isTrue();
        upstream.server().resetRequests();

        // What an id that never existed gets: the other callers must not be able to tell the difference.
        String unknown = "ses_AAAAAAAAAAAAAAAAAAAAAA";
        JsonNode unknownHistory = notFound(call(BOB, HISTORY, Map.of("id", unknown)));
        JsonNode unknownTurn = notFound(call(BOB, ASK, Map.of("input", input(unknown, "hi", false))));
        for (AuthenticatedUser other : new AuthenticatedUser[] {BOB, null}) {
            JsonNode history = notFound(call(other, HISTORY, Map.of("id", id)));
            assertThat(history.get("message")).isEqualTo(unknownHistory.get("message"));
            // Alike but for the request id, which every answer has its own of.
            assertThat(history.at("/extensions/requestId").asText())
                    .isNotEqualTo(unknownHistory.at("/extensions/requestId").asText());
            assertThat(((ObjectNode) history.get("extensions").deepCopy()).<JsonNode>without("requestId"))
                    .isEqualTo(
                            ((ObjectNode) unknownHistory.get("extensions").deepCopy()).<JsonNode>without("requestId"));
            notFound(call(other, PAGE, Map.of("id", id)));
            JsonNode turn = notFound(call(other, ASK, Map.of("input", input(id, "let me in", false))));
            assertThat(turn.get("message")).isEqualTo(unknownTurn.get("message"));
            notFound(call(other, ASK, Map.of("input", input(id, "what did she say?", true))));
            notFound(call(other, DELETE, Map.of("id", id)));
        }
        assertThat(upstream.server().getAllServeEvents()).as("no upstream call").isEmpty();

        // Her session is untouched, and hers to use.
        assertThat(history(ALICE, id)).containsExactly("secret plan", "re: secret plan");
        assertThat(data(call(ALICE, ASK, Map.of("input", input(id, "go on", true))))
                        .at("/getAIResponse/content")
                        .asText())
                .isEqualTo("re: go on");
        assertThat(data(call(ALICE, DELETE, Map.of("id", id)))
                        .at("/deleteSession/success")
                        .asBoolean())
                .isTrue();
        notFound(call(ALICE, HISTORY, Map.of("id", id)));
    }

    @Test
    void aSessionCreatedAnonymouslyOverGraphQlIsUsableByAnyoneHoldingItsId() {
        upstream.echoChats();
        String id = data(call(null, CREATE, Map.of()))
                .at("/createSession/sessionId")
                .asText();
        data(call(ALICE, ASK, Map.of("input", input(id, "from alice", false))));
        data(call(BOB, ASK, Map.of("input", input(id, "from bob", true))));
        assertThat(history(null, id)).containsExactly("from alice", "re: from alice", "from bob", "re: from bob");
    }
}
