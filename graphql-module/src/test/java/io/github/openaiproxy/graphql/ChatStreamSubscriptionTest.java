package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The chatStream subscription over Server-Sent Events (GraphQL over SSE, distinct connections mode). */
class ChatStreamSubscriptionTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String SUBSCRIBE =
            "subscription S($input: ChatInput!) { chatStream(input: $input) { content finishReason } }";
    static final List<String> EVENTS = List.of(
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"H\u00e9llo\"}}]}\n\n",
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \u4f60\u597d\"}}]}\n\n",
            "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n");
    static GraphQlServer server;

    @BeforeAll
    static void start() {
        server = GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String body(String query, Map<String, Object> variables) throws Exception {
        return JSON.writeValueAsString(Map.of("query", query, "variables", variables));
    }

    static Map<String, Object> input(String content) {
        return Map.of("messages", List.of(Map.of("role", "user", "content", content)));
    }

    HttpResponse<String> subscribe(String body) {
        return server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    void upstreamStreams(String events) {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(events)
                                .withChunkedDribbleDelay(5, 100)));
    }

    @Test
    void tokensArriveAsNextEventsThenComplete() throws Exception {
        upstreamStreams(String.join("", EVENTS));

        HttpResponse<String> r = subscribe(body(SUBSCRIBE, Map.of("input", input("Hi"))));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type").orElseThrow()).startsWith("text/event-stream");
        assertThat(r.body()).isEqualTo("""
                event: next
                data: {"data":{"chatStream":{"content":"H\u00e9llo","finishReason":null}}}

                event: next
                data: {"data":{"chatStream":{"content":" \u4f60\u597d","finishReason":null}}}

                event: next
                data: {"data":{"chatStream":{"content":null,"finishReason":"stop"}}}

                event: complete
                data:

                """);
        JsonNode sent = JSON.readTree(
                upstream.server().getAllServeEvents().get(0).getRequest().getBodyAsString());
        assertThat(sent.get("stream").asBoolean()).isTrue();
    }

    /** Each token leaves as soon as the upstream sends it: the client reads the first while the upstream waits. */
    /**
     * A stream the upstream ends before its finish (no {@code finish_reason}, no {@code [DONE]}) is a failure, as a
     * connection lost is: the subscriber is not told the reply is complete, and the session records nothing.
     */
    @Test
    void aStreamEndedBeforeItsFinishIsAnUpstreamError() throws Exception {
        upstreamStreams(EVENTS.get(0) + EVENTS.get(1));
        String id = JSON.readTree(server.post("{\"query\":\"mutation { createSession { sessionId } }\"}")
                        .body())
                .at("/data/createSession/sessionId")
                .asText();

        HttpResponse<String> r = subscribe(body(
                SUBSCRIBE,
                Map.of(
                        "input",
                        Map.of("sessionId", id, "messages", List.of(Map.of("role", "user", "content", "Hi"))))));

        String[] events = r.body().split("\n\n");
        assertThat(events).hasSize(3);
        assertThat(events[0]).contains("H\u00e9llo");
        assertThat(events[1]).startsWith("event: next\ndata: {\"errors\":[").contains("UPSTREAM_ERROR");
        assertThat(events[2]).isEqualTo("event: complete\ndata:");
        assertThat(server.post(body("query H($id: String) { chatHistory(sessionId: $id) { id } }", Map.of("id", id)))
                        .body())
                .contains("\"chatHistory\":[]");
    }

    /** A streamed refusal reaches the subscriber: its content is null, so without {@code refusal} nothing would. */
    @Test
    void aRefusalArrivesAsRefusalPieces() throws Exception {
        upstreamStreams(EVENTS.get(0)
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't \"}}]}\n\n"
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"help.\"}}]}\n\n"
                + EVENTS.get(3) + EVENTS.get(4));

        HttpResponse<String> r = subscribe(body(
                "subscription S($input: ChatInput!) { chatStream(input: $input) { content refusal finishReason } }",
                Map.of("input", input("Hi"))));

        assertThat(r.body())
                .contains("{\"chatStream\":{\"content\":null,\"refusal\":\"I can't \",\"finishReason\":null}}")
                .contains("{\"chatStream\":{\"content\":null,\"refusal\":\"help.\",\"finishReason\":null}}")
                .endsWith("event: complete\ndata:\n\n");
    }

    /** Tool calls stream as OpenAI streams them: the call's id and name first, then its arguments in pieces. */
    @Test
    void toolCallsArriveAsToolCallPieces() throws Exception {
        upstreamStreams(EVENTS.get(0)
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                + "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}]}}]}\n\n"
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                + "\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]}}]}\n\n"
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
                + EVENTS.get(4));

        HttpResponse<String> r = subscribe(body(
                "subscription S($input: ChatInput!) { chatStream(input: $input) { content toolCalls finishReason } }",
                Map.of(
                        "input",
                        Map.of(
                                "messages",
                                List.of(Map.of("role", "user", "content", "Oslo weather?")),
                                "tools",
                                List.of(Map.of("type", "function", "function", Map.of("name", "weather")))))));

        List<JsonNode> pieces = new java.util.ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: {")) {
                pieces.add(JSON.readTree(line.substring(6)).at("/data/chatStream"));
            }
        }
        assertThat(pieces).hasSize(3);
        assertThat(pieces.get(0).at("/toolCalls/0/id").asText()).isEqualTo("call_1");
        assertThat(pieces.get(0).at("/toolCalls/0/function/name").asText()).isEqualTo("weather");
        assertThat(pieces.get(1).at("/toolCalls/0/index").asInt()).isZero();
        assertThat(pieces.get(1).at("/toolCalls/0/function/arguments").asText()).isEqualTo("{\"city\":\"Oslo\"}");
        assertThat(pieces.get(2).get("finishReason").asText()).isEqualTo("tool_calls");
        assertThat(pieces.get(2).get("toolCalls").isNull()).isTrue();
        JsonNode sent = JSON.readTree(
                upstream.server().getAllServeEvents().get(0).getRequest().getBodyAsString());
        assertThat(sent.at("/tools/0/function/name").asText()).isEqualTo("weather");
    }

    /**
     * An upstream that cuts an emoji's surrogate pair across two events (its JSON escapes each half): each piece the
     * subscriber gets is whole text, so a client that decodes every piece on its own never sees half a character.
     */
    @Test
    void aSurrogatePairSplitAcrossEventsArrivesWhole() throws Exception {
        upstreamStreams(EVENTS.get(0)
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \\ud83d\"}}]}\n\n"
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ude00!\"}}]}\n\n"
                + "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud83d\"}}]}\n\n"
                + EVENTS.get(3) + EVENTS.get(4));

        HttpResponse<String> r = subscribe(body(SUBSCRIBE, Map.of("input", input("Hi"))));

        List<String> pieces = new java.util.ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: {")) {
                pieces.add(JSON.readTree(line.substring(6))
                        .at("/data/chatStream/content")
                        .asText(null));
            }
        }
        assertThat(pieces).containsExactly("Hi ", "\ud83d\ude00!", null);
        assertThat(r.body()).endsWith("event: complete\ndata:\n\n");
    }

    @Test
    void tokensAreRelayedAsTheyArriveNotAtTheEnd() throws Exception {
        try (var raw = new java.net.ServerSocket(0, 10, java.net.InetAddress.getLoopbackAddress());
                GraphQlServer slow = GraphQlServer.start(
                        GraphQlServer.config(java.net.URI.create("http://127.0.0.1:" + raw.getLocalPort()))
                                .build())) {
            String request = body(SUBSCRIBE, Map.of("input", input("Hi")));
            java.util.concurrent.CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> client = slow.http()
                    .sendAsync(
                            HttpRequest.newBuilder(slow.uri("/graphql"))
                                    .header("Content-Type", "application/json")
                                    .header("Accept", "text/event-stream")
                                    .POST(HttpRequest.BodyPublishers.ofString(request))
                                    .build(),
                            HttpResponse.BodyHandlers.ofLines());
            raw.setSoTimeout(30_000);
            try (Socket upstreamSide = raw.accept()) {
                readRequest(upstreamSide.getInputStream());
                var out = upstreamSide.getOutputStream();
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                        .getBytes(StandardCharsets.UTF_8));
                chunk(out, EVENTS.get(1));
                var lines = client.get(30, java.util.concurrent.TimeUnit.SECONDS)
                        .body()
                        .iterator();
                assertThat(lines.next()).isEqualTo("event: next");
                assertThat(lines.next()).contains("H\u00e9llo"); // while the upstream has not finished
                chunk(out, EVENTS.get(3) + EVENTS.get(4));
                out.write("0\r\n\r\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                StringBuilder rest = new StringBuilder();
                lines.forEachRemaining(l -> rest.append(l).append('\n'));
                assertThat(rest.toString())
                        .contains("\"finishReason\":\"stop\"")
                        .endsWith("event: complete\ndata:\n\n");
            }
        }
    }

    @Test
    void aSessionStreamIsRecorded() throws Exception {
        upstreamStreams(String.join("", EVENTS));
        String id = JSON.readTree(server.post("{\"query\":\"mutation { createSession { sessionId } }\"}")
                        .body())
                .at("/data/createSession/sessionId")
                .asText();
        Map<String, Object> input =
                Map.of("sessionId", id, "messages", List.of(Map.of("role", "user", "content", "Hi")));

        HttpResponse<String> r = subscribe(body(
                "subscription S($input: ChatInput!) { chatStream(input: $input) { id content } }",
                Map.of("input", input)));
        assertThat(r.body()).endsWith("event: complete\ndata:\n\n");

        JsonNode history = JSON.readTree(server.post(body(
                                "query H($id: String) { chatHistory(sessionId: $id) { id content isUser } }",
                                Map.of("id", id)))
                        .body())
                .at("/data/chatHistory");
        assertThat(history.findValuesAsText("content")).containsExactly("Hi", "H\u00e9llo \u4f60\u597d");
        assertThat(r.body()).contains("\"id\":\"" + history.get(1).get("id").asText() + "\"");
    }

    @Test
    void anErrorInTheStreamIsANextWithErrorsThenComplete() throws Exception {
        upstreamStreams(EVENTS.get(1)
                + "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n");

        HttpResponse<String> r = subscribe(body(SUBSCRIBE, Map.of("input", input("Hi"))));

        assertThat(r.statusCode()).isEqualTo(200);
        String[] events = r.body().split("\n\n");
        assertThat(events).hasSize(3);
        assertThat(events[0]).contains("H\u00e9llo");
        assertThat(events[1])
                .startsWith("event: next\ndata: {\"errors\":[")
                .contains("The server had an error")
                .contains("UPSTREAM_ERROR");
        assertThat(events[2]).isEqualTo("event: complete\ndata:");
    }

    @Test
    void aRefusedRequestIsOneNextWithTheErrorThenComplete() throws Exception {
        HttpResponse<String> r = subscribe(body(
                SUBSCRIBE,
                Map.of(
                        "input",
                        Map.of(
                                "sessionId",
                                "ses_unknown",
                                "messages",
                                List.of(Map.of("role", "user", "content", "Hi"))))));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("NOT_FOUND").endsWith("event: complete\ndata:\n\n");
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void subscriptionsNeedEventStreamAndPost() throws Exception {
        HttpResponse<String> plain = server.post(body(SUBSCRIBE, Map.of("input", input("Hi"))));
        assertThat(plain.statusCode()).isEqualTo(400);
        assertThat(plain.body()).contains("text/event-stream");

        HttpResponse<String> invalid = subscribe(body("subscription { chatStream(input: {}) { content } }", Map.of()));
        assertThat(invalid.statusCode()).isEqualTo(400);
        assertThat(invalid.headers().firstValue("content-type").orElseThrow()).startsWith("application/json");
    }

    @Test
    void aMutationOverEventStreamIsOneNextThenComplete() throws Exception {
        HttpResponse<String> r = subscribe("{\"query\":\"mutation { createSession { success } }\"}");
        assertThat(r.body())
                .isEqualTo("event: next\ndata: {\"data\":{\"createSession\":{\"success\":true}}}\n\n"
                        + "event: complete\ndata:\n\n");
    }

    private static void readRequest(InputStream in) throws Exception {
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.ISO_8859_1));
        int length = 0;
        for (String line = reader.readLine(); line != null && !line.isEmpty(); line = reader.readLine()) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).strip());
            }
        }
        for (int i = 0; i < length; i++) {
            reader.read();
        }
    }

    private static void chunk(java.io.OutputStream out, String text) throws Exception {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        out.write((Integer.toHexString(b.length) + "\r\n").getBytes(StandardCharsets.UTF_8));
        out.write(b);
        out.write("\r\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
