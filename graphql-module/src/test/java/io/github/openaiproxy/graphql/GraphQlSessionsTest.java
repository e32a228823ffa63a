package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Sessions through GraphQL: history, paging, deletion, history as context, and 50 concurrent turns. */
class GraphQlSessionsTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String ASK =
            "mutation Ask($input: ChatInput!) { getAIResponse(input: $input) { id content success } }";
    static final String HISTORY = "query H($id: String, $limit: Int, $after: Int) {"
            + " chatHistory(sessionId: $id, limit: $limit, after: $after) { id content isUser role sequence } }";
    static GraphQlServer server;

    @BeforeAll
    static void start() {
        server = GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String body(String query, Map<String, Object> variables) {
        try {
            return JSON.writeValueAsString(Map.of("query", query, "variables", variables));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode data(HttpResponse<String> r) {
        try {
            JsonNode n = JSON.readTree(r.body());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(n.has("errors")).as(r.body()).isFalse();
            return n.get("data");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static String newSession() {
        return data(server.post("{\"query\":\"mutation { createSession { sessionId success } }\"}"))
                .at("/createSession/sessionId")
                .asText();
    }

    static Map<String, Object> input(String sessionId, String content) {
        return Map.of("sessionId", sessionId, "messages", List.of(Map.of("role", "user", "content", content)));
    }

    static JsonNode history(String id, int limit, int after) {
        return data(server.post(body(HISTORY, Map.of("id", id, "limit", limit, "after", after))))
                .get("chatHistory");
    }

    @Test
    void historyPagesAndDeletion() {
        upstream.echoChats();
        String id = newSession();
        for (String q : List.of("one", "two", "three")) {
            data(server.post(body(ASK, Map.of("input", input(id, q)))));
        }

        JsonNode first = history(id, 4, 0);
        assertThat(first.findValuesAsText("content")).containsExactly("one", "re: one", "two", "re: two");
        assertThat(first.findValuesAsText("role")).containsExactly("user", "assistant", "user", "assistant");
        JsonNode rest = history(id, 4, first.get(3).get("sequence").asInt());
        assertThat(rest.findValuesAsText("content")).containsExactly("three", "re: three");

        JsonNode deleted = data(server.post(body(
                        "mutation D($id: String!) { deleteSession(sessionId: $id) { sessionId success } }",
                        Map.of("id", id))))
                .get("deleteSession");
        assertThat(deleted.get("success").asBoolean()).isTrue();
        HttpResponse<String> gone = server.post(body(HISTORY, Map.of("id", id, "limit", 10, "after", 0)));
        assertThat(gone.body()).contains("NOT_FOUND");
    }

    /** A refusal and tool calls come back as the upstream answered them, from getAIResponse and the history. */
    @Test
    void aRefusalAndToolCallsAreAnsweredAndKeptInTheHistory() throws Exception {
        String toolCall =
                "{\"id\":\"call_1\",\"type\":\"function\"," + "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}";
        for (String[] reply : List.of(
                new String[] {"refuse", "\"content\":null,\"refusal\":\"I can't help with that.\""},
                new String[] {"call", "\"content\":null,\"tool_calls\":[" + toolCall + "]"})) {
            upstream.server()
                    .stubFor(com.github.tomakehurst.wiremock.client.WireMock.post("/v1/chat/completions")
                            .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.containing(reply[0]))
                            .willReturn(com.github.tomakehurst.wiremock.client.WireMock.okJson(
                                    "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                                            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                            + reply[1] + "},\"finish_reason\":\"stop\"}]}")));
        }
        String id = newSession();

        JsonNode refused = data(server.post(body(
                        "mutation Ask($input: ChatInput!) { getAIResponse(input: $input) { content refusal success } }",
                        Map.of("input", input(id, "refuse")))))
                .get("getAIResponse");
        data(server.post(body(ASK, Map.of("input", input(id, "call")))));

        assertThat(refused.get("refusal").asText()).isEqualTo("I can't help with that.");
        assertThat(refused.get("success").asBoolean()).isTrue();
        JsonNode history = data(server.post(body(
                        "query H($id: String) { chatHistory(sessionId: $id) { role content refusal toolCalls } }",
                        Map.of("id", id))))
                .get("chatHistory");
        assertThat(history.get(1).get("refusal").asText()).isEqualTo("I can't help with that.");
        assertThat(history.get(3).get("toolCalls")).isEqualTo(JSON.readTree("[" + toolCall + "]"));
        assertThat(history.get(2).get("toolCalls").isNull()).isTrue();
    }

    /**
     * A tool-using turn through GraphQL alone: tools and tool_choice reach the upstream as given, the call comes back
     * in toolCalls, and the next turn sends the tool's result (tool_call_id) after the recorded call.
     */
    @Test
    void aToolCallRoundTripsThroughGraphQl() throws Exception {
        String toolCall = "{\"id\":\"call_1\",\"type\":\"function\","
                + "\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}";
        for (String[] reply : List.of(
                new String[] {"Oslo weather?", "\"content\":null,\"tool_calls\":[" + toolCall + "]", "tool_calls"},
                new String[] {"sunny, 3C", "\"content\":\"Sunny in Oslo.\"", "stop"})) {
            upstream.server()
                    .stubFor(com.github.tomakehurst.wiremock.client.WireMock.post("/v1/chat/completions")
                            .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.containing(reply[0]))
                            .willReturn(com.github.tomakehurst.wiremock.client.WireMock.okJson(
                                    "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                                            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                            + reply[1] + "},\"finish_reason\":\"" + reply[2] + "\"}]}")));
        }
        List<Object> tools = List.of(Map.of(
                "type",
                "function",
                "function",
                Map.of(
                        "name",
                        "weather",
                        "parameters",
                        Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string"))))));
        String id = newSession();
        String ask =
                "mutation Ask($input: ChatInput!) { getAIResponse(input: $input) { content finishReason toolCalls } }";

        JsonNode call = data(server.post(body(
                        ask,
                        Map.of(
                                "input",
                                Map.of(
                                        "sessionId",
                                        id,
                                        "messages",
                                        List.of(Map.of("role", "user", "content", "Oslo weather?")),
                                        "tools",
                                        tools,
                                        "tool_choice",
                                        "auto",
                                        "parallel_tool_calls",
                                        false)))))
                .get("getAIResponse");
        JsonNode answer = data(server.post(body(
                        ask,
                        Map.of(
                                "input",
                                Map.of(
                                        "sessionId",
                                        id,
                                        "includeHistory",
                                        true,
                                        "messages",
                                        List.of(Map.of(
                                                "role", "tool", "tool_call_id", "call_1", "content", "sunny, 3C")),
                                        "tools",
                                        tools)))))
                .get("getAIResponse");

        assertThat(call.get("finishReason").asText()).isEqualTo("tool_calls");
        assertThat(call.get("toolCalls")).isEqualTo(JSON.readTree("[" + toolCall + "]"));
        assertThat(answer.get("content").asText()).isEqualTo("Sunny in Oslo.");
        var sent = upstream.server().getAllServeEvents();
        JsonNode first = JSON.readTree(sent.get(1).getRequest().getBodyAsString());
        JsonNode second = JSON.readTree(sent.get(0).getRequest().getBodyAsString());
        assertThat(first.get("tools")).isEqualTo(JSON.valueToTree(tools));
        assertThat(first.get("tool_choice").asText()).isEqualTo("auto");
        assertThat(first.get("parallel_tool_calls").asBoolean()).isFalse();
        assertThat(second.get("messages").findValuesAsText("role")).containsExactly("user", "assistant", "tool");
        assertThat(second.at("/messages/1/tool_calls")).isEqualTo(JSON.readTree("[" + toolCall + "]"));
        assertThat(second.at("/messages/2/tool_call_id").asText()).isEqualTo("call_1");
    }

    /**
     * An id that cannot be a path segment ({@code ses_é}, {@code a/b}, {@code ..}) names no session: the same
     * NOT_FOUND as any unknown id, never the proxy's internal sub-request ("No route for GET /sessions/...").
     */
    @Test
    void anIdThatCannotBeAPathSegmentIsAnUnknownSessionNotAnInternalRoute() throws Exception {
        String unknown = JSON.readTree(server.post(body(HISTORY, Map.of("id", "ses_unknown", "limit", 1, "after", 0)))
                        .body())
                .at("/errors/0/message")
                .asText();
        assertThat(unknown).isNotBlank();
        for (String id : List.of("ses_\u00e9", "a/b", "..", "x?y", "%")) {
            List<String> queries = List.of(
                    body(HISTORY, Map.of("id", id, "limit", 1, "after", 0)),
                    body("query P($id: String!) { chatHistoryPage(sessionId: $id) { hasMore } }", Map.of("id", id)),
                    body(
                            "mutation D($id: String!) { deleteSession(sessionId: $id) { success error } }",
                            Map.of("id", id)));
            for (String q : queries) {
                HttpResponse<String> r = server.post(q);
                JsonNode error = JSON.readTree(r.body()).at("/errors/0");
                assertThat(error.at("/extensions/code").asText())
                        .as(id + " " + r.body())
                        .isEqualTo("NOT_FOUND");
                assertThat(error.path("message").asText()).as(id).isEqualTo(unknown);
                assertThat(r.body()).as(id).doesNotContain("No route").doesNotContain("/sessions/");
            }
        }
    }

    /**
     * A page also stops at {@code sessions.max-page-size} bytes: chatHistory then holds fewer than
     * {@code limit} messages while more follow (documented), and chatHistoryPage says so with
     * {@code hasMore} and continues with {@code nextAfter}.
     */
    @Test
    void aHistoryPageStopsAtMaxPageSizeAndChatHistoryPageSaysMoreFollow() {
        upstream.echoChats();
        try (GraphQlServer small = GraphQlServer.start(GraphQlServer.config(upstream.baseUrl())
                .sessions(SessionConfig.DEFAULTS.withMaxPageSize(250))
                .build())) {
            String id = data(small.post("{\"query\":\"mutation { createSession { sessionId success } }\"}"))
                    .at("/createSession/sessionId")
                    .asText();
            for (int i = 0; i < 3; i++) {
                data(small.post(body(
                        ASK, Map.of("input", input(id, String.valueOf(i).repeat(100))))));
            }
            // 100 + 104 bytes fit in 250, the next 100 would not.
            JsonNode cut = data(small.post(body(HISTORY, Map.of("id", id, "limit", 100, "after", 0))))
                    .get("chatHistory");
            assertThat(cut).hasSize(2);

            String pageQuery = "query P($id: String!, $after: Int) { chatHistoryPage(sessionId: $id, limit: 100,"
                    + " after: $after) { messages { content sequence } hasMore nextAfter } }";
            List<Integer> pages = new ArrayList<>();
            List<String> read = new ArrayList<>();
            int after = 0;
            boolean more = true;
            while (more && pages.size() < 10) {
                JsonNode page = data(small.post(body(pageQuery, Map.of("id", id, "after", after))))
                        .get("chatHistoryPage");
                pages.add(page.get("messages").size());
                read.addAll(page.get("messages").findValuesAsText("content"));
                more = page.get("hasMore").asBoolean();
                after = page.get("nextAfter").asInt();
            }
            assertThat(pages).containsExactly(2, 2, 2);
            assertThat(read)
                    .containsExactly(
                            "0".repeat(100),
                            "re: " + "0".repeat(100),
                            "1".repeat(100),
                            "re: " + "1".repeat(100),
                            "2".repeat(100),
                            "re: " + "2".repeat(100));
        }
    }

    @Test
    void historyGoesUpstreamAsContextWhenAsked() throws Exception {
        upstream.echoChats();
        String id = newSession();
        data(server.post(body(ASK, Map.of("input", input(id, "first")))));
        Map<String, Object> second = Map.of(
                "sessionId",
                id,
                "includeHistory",
                true,
                "messages",
                List.of(Map.of("role", "user", "content", "second")));
        data(server.post(body(ASK, Map.of("input", second))));

        var sent = upstream.server().getAllServeEvents();
        JsonNode last = JSON.readTree(sent.get(0).getRequest().getBodyAsString()); // newest first
        assertThat(last.get("messages").findValuesAsText("content")).containsExactly("first", "re: first", "second");
    }

    /** 50 getAIResponse calls at once on one session: 100 messages, each question directly before its answer. */
    @Test
    void fiftyConcurrentCallsRecordAllHundredMessagesInPairs() throws Exception {
        upstream.echoChats();
        String id = newSession();
        List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            calls.add(server.http()
                    .sendAsync(
                            HttpRequest.newBuilder(server.uri("/graphql"))
                                    .header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString(
                                            body(ASK, Map.of("input", input(id, "q" + i)))))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString()));
        }
        for (CompletableFuture<HttpResponse<String>> c : calls) {
            assertThat(data(c.get(60, TimeUnit.SECONDS))
                            .at("/getAIResponse/success")
                            .asBoolean())
                    .isTrue();
        }

        JsonNode all = history(id, 1000, 0);
        assertThat(all).hasSize(100);
        List<String> questions = new ArrayList<>();
        for (int i = 0; i < 100; i += 2) {
            assertThat(all.get(i).get("sequence").asInt()).isEqualTo(i + 1);
            assertThat(all.get(i).get("isUser").asBoolean()).isTrue();
            assertThat(all.get(i + 1).get("isUser").asBoolean()).isFalse();
            assertThat(all.get(i + 1).get("content").asText())
                    .isEqualTo("re: " + all.get(i).get("content").asText());
            questions.add(all.get(i).get("content").asText());
        }
        assertThat(questions).doesNotHaveDuplicates().hasSize(50);
    }
}
