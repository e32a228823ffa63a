package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a session records of a reply that is not plain text, on Tomcat: a tool call and a refusal are kept as the
 * upstream sent them (plain and streamed, the stream's deltas assembled), a tool result keeps its
 * {@code tool_call_id}, and the history sent upstream as context is a conversation the upstream accepts. A stream
 * the upstream ends without its finish (no {@code finish_reason}, no {@code [DONE]}) records nothing.
 */
class SessionReplyFidelityHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOOL_CALL = "{\"id\":\"call_1\",\"type\":\"function\","
            + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}";

    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    String newSession() throws Exception {
        proxy = TomcatProxy.servlet(Upstream.config(upstream).build());
        HttpResponse<String> created = Http.postJson(proxy.uri("/sessions"), "");
        assertThat(created.statusCode()).isEqualTo(201);
        return JSON.readTree(created.body()).get("sessionId").asText();
    }

    JsonNode history(String id) throws Exception {
        HttpResponse<String> page = Http.get(proxy.uri("/sessions/" + id + "/messages"));
        assertThat(page.statusCode()).isEqualTo(200);
        return JSON.readTree(page.body()).get("messages");
    }

    static String chat(String id, boolean stream, String message) {
        return "{\"sessionId\":\"" + id + "\",\"includeHistory\":true,\"stream\":" + stream + ",\"messages\":["
                + message + "]}";
    }

    static String completion(String message, String finish) {
        return "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
                + "\"message\":" + message + ",\"finish_reason\":\"" + finish + "\"}]}";
    }

    static String events(String... deltas) {
        StringBuilder sse = new StringBuilder();
        for (String d : deltas) {
            sse.append("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                            + "\"choices\":[{\"index\":0,")
                    .append(d)
                    .append("}]}\n\n");
        }
        return sse.toString();
    }

    void upstreamAnswers(String marker, String contentType, String body) {
        upstream.stubFor(post("/v1/chat/completions")
                .withRequestBody(containing(marker))
                .willReturn(aResponse().withHeader("Content-Type", contentType).withBody(body)));
    }

    /** The last message the upstream received and the one before it (the history sent as context). */
    List<JsonNode> lastSentMessages() throws Exception {
        var requests = Upstream.requests(upstream);
        JsonNode messages = JSON.readTree(requests.get(requests.size() - 1).getBodyAsString())
                .get("messages");
        return List.of(messages.get(messages.size() - 2), messages.get(messages.size() - 1));
    }

    @Test
    void aToolCallAndItsResultAreRecordedAndSentBackAsTheUpstreamNeedsThem() throws Exception {
        upstreamAnswers(
                "weather?",
                "application/json",
                completion(
                        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[" + TOOL_CALL + "]}", "tool_calls"));
        upstreamAnswers(
                "sunny",
                "application/json",
                completion("{\"role\":\"assistant\",\"content\":\"It is sunny.\"}", "stop"));
        String id = newSession();

        assertThat(Http.postJson(proxy.uri("/"), chat(id, false, "{\"role\":\"user\",\"content\":\"weather?\"}"))
                        .statusCode())
                .isEqualTo(200);
        HttpResponse<String> answered = Http.postJson(
                proxy.uri("/"),
                chat(id, false, "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}"));

        assertThat(answered.statusCode()).as(answered.body()).isEqualTo(200);
        List<JsonNode> sent = lastSentMessages();
        assertThat(sent.get(0))
                .isEqualTo(
                        JSON.readTree("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[" + TOOL_CALL + "]}"));
        assertThat(sent.get(1))
                .isEqualTo(JSON.readTree("{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}"));
        JsonNode history = history(id);
        assertThat(history.findValuesAsText("role")).containsExactly("user", "assistant", "tool", "assistant");
        assertThat(history.get(1).get("toolCalls")).isEqualTo(JSON.readTree("[" + TOOL_CALL + "]"));
        assertThat(history.get(2).get("toolCallId").asText()).isEqualTo("call_1");
        assertThat(history.get(3).get("content").asText()).isEqualTo("It is sunny.");
    }

    /**
     * A context window ({@code sessions.context-messages}) that starts between a tool call and its result would send
     * the result without its call, which the upstream refuses: the window leaves such results out.
     */
    @Test
    void aContextWindowNeverStartsWithAToolResultCutFromItsCall() throws Exception {
        upstreamAnswers(
                "weather?",
                "application/json",
                completion(
                        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[" + TOOL_CALL + "]}", "tool_calls"));
        upstreamAnswers(
                "sunny",
                "application/json",
                completion("{\"role\":\"assistant\",\"content\":\"It is sunny.\"}", "stop"));
        upstreamAnswers("next", "application/json", completion("{\"role\":\"assistant\",\"content\":\"ok\"}", "stop"));
        proxy = TomcatProxy.servlet(Upstream.config(upstream)
                .sessions(SessionConfig.DEFAULTS.withContextMessages(2))
                .build());
        HttpResponse<String> created = Http.postJson(proxy.uri("/sessions"), "");
        String id = JSON.readTree(created.body()).get("sessionId").asText();
        Http.postJson(proxy.uri("/"), chat(id, false, "{\"role\":\"user\",\"content\":\"weather?\"}"));
        Http.postJson(
                proxy.uri("/"),
                chat(id, false, "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}"));

        assertThat(Http.postJson(proxy.uri("/"), chat(id, false, "{\"role\":\"user\",\"content\":\"next\"}"))
                        .statusCode())
                .isEqualTo(200);

        var requests = Upstream.requests(upstream);
        JsonNode sent = JSON.readTree(requests.get(requests.size() - 1).getBodyAsString())
                .get("messages");
        assertThat(sent.findValuesAsText("role")).containsExactly("assistant", "user");
    }

    @Test
    void aStreamedToolCallIsAssembledFromItsDeltas() throws Exception {
        upstreamAnswers(
                "weather?",
                "text/event-stream",
                events(
                                "\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null",
                                "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                                        + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
                                        + "\"finish_reason\":null",
                                "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},"
                                        + "\"finish_reason\":null",
                                "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},"
                                        + "\"finish_reason\":null",
                                "\"delta\":{},\"finish_reason\":\"tool_calls\"")
                        + "data: [DONE]\n\n");
        upstreamAnswers(
                "sunny",
                "application/json",
                completion("{\"role\":\"assistant\",\"content\":\"It is sunny.\"}", "stop"));
        String id = newSession();

        assertThat(Http.postJson(proxy.uri("/"), chat(id, true, "{\"role\":\"user\",\"content\":\"weather?\"}"))
                        .statusCode())
                .isEqualTo(200);
        assertThat(Http.postJson(
                                proxy.uri("/"),
                                chat(
                                        id,
                                        false,
                                        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}"))
                        .statusCode())
                .isEqualTo(200);

        assertThat(lastSentMessages().get(0))
                .isEqualTo(
                        JSON.readTree("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[" + TOOL_CALL + "]}"));
        assertThat(history(id).get(1).get("toolCalls")).isEqualTo(JSON.readTree("[" + TOOL_CALL + "]"));
    }

    @Test
    void aRefusalIsRecordedPlainAndStreamed() throws Exception {
        upstreamAnswers(
                "plain",
                "application/json",
                completion(
                        "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't help with that.\"}", "stop"));
        upstreamAnswers(
                "streamed",
                "text/event-stream",
                events(
                                "\"delta\":{\"role\":\"assistant\",\"content\":null,\"refusal\":\"\"},\"finish_reason\":null",
                                "\"delta\":{\"refusal\":\"I can't \"},\"finish_reason\":null",
                                "\"delta\":{\"refusal\":\"help with that.\"},\"finish_reason\":null",
                                "\"delta\":{},\"finish_reason\":\"stop\"")
                        + "data: [DONE]\n\n");
        upstreamAnswers("next", "application/json", completion("{\"role\":\"assistant\",\"content\":\"ok\"}", "stop"));
        String id = newSession();

        Http.postJson(proxy.uri("/"), chat(id, false, "{\"role\":\"user\",\"content\":\"plain\"}"));
        Http.postJson(proxy.uri("/"), chat(id, true, "{\"role\":\"user\",\"content\":\"streamed\"}"));
        Http.postJson(proxy.uri("/"), chat(id, false, "{\"role\":\"user\",\"content\":\"next\"}"));

        JsonNode history = history(id);
        assertThat(history.get(1).get("refusal").asText()).isEqualTo("I can't help with that.");
        assertThat(history.get(3).get("refusal").asText()).isEqualTo("I can't help with that.");
        JsonNode refused =
                JSON.readTree("{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't help with that.\"}");
        var requests = Upstream.requests(upstream);
        JsonNode sent = JSON.readTree(requests.get(requests.size() - 1).getBodyAsString())
                .get("messages");
        assertThat(sent.get(1)).isEqualTo(refused);
        assertThat(sent.get(3)).isEqualTo(refused);
    }

    @Test
    void aStreamTheUpstreamEndsBeforeItsFinishRecordsNothing() throws Exception {
        upstreamAnswers(
                "cut",
                "text/event-stream",
                events("\"delta\":{\"role\":\"assistant\",\"content\":\"Half an ans\"},\"finish_reason\":null"));
        String id = newSession();

        HttpResponse<String> relayed =
                Http.postJson(proxy.uri("/"), chat(id, true, "{\"role\":\"user\",\"content\":\"cut\"}"));

        assertThat(relayed.body()).contains("Half an ans");
        assertThat(history(id)).isEmpty();
    }

    /**
     * {@code sessions.max-message-size} counts a reply kept whole as its text plus the message's JSON, as a plain
     * answer's is counted: a streamed one is held to the same, however its pieces escape (a quote is two bytes in
     * JSON) and however many tool calls an upstream opens without a byte in them.
     */
    @ParameterizedTest
    @ValueSource(strings = {"quotes", "empty tool calls"})
    void aStreamedReplyOverTheMessageSizeOnceWrittenIsNotKept(String shape) throws Exception {
        List<String> deltas = new ArrayList<>();
        if (shape.equals("quotes")) {
            deltas.add("\"delta\":{\"role\":\"assistant\",\"content\":\"" + "\\\"".repeat(150) + "\"}");
            deltas.add("\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\","
                    + "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}");
        } else {
            for (int i = 0; i < 300; i++) {
                deltas.add("\"delta\":{\"tool_calls\":[{\"index\":" + i + "}]}");
            }
        }
        deltas.add("\"delta\":{},\"finish_reason\":\"tool_calls\"");
        upstreamAnswers("big", "text/event-stream", events(deltas.toArray(String[]::new)) + "data: [DONE]\n\n");
        proxy = TomcatProxy.servlet(Upstream.config(upstream)
                .sessions(SessionConfig.DEFAULTS.withMaxMessageSize(200))
                .build());
        String id = JSON.readTree(Http.postJson(proxy.uri("/sessions"), "").body())
                .get("sessionId")
                .asText();

        HttpResponse<String> relayed =
                Http.postJson(proxy.uri("/"), chat(id, true, "{\"role\":\"user\",\"content\":\"big\"}"));

        assertThat(relayed.statusCode()).isEqualTo(200);
        assertThat(relayed.body()).contains("[DONE]");
        JsonNode reply = history(id).get(1);
        assertThat(reply.get("content").asText()).isEqualTo(ChatSessions.REPLY_NOT_RECORDED);
        assertThat(reply.has("toolCalls")).as(reply.toString()).isFalse();
    }

    /**
     * Gemini's OpenAI-compatible stream sends parallel calls whole, one a delta, without an {@code index} (or each
     * at index 0), each with its id and an {@code extra_content} it needs back: they are separate calls, as its
     * plain answer holds, not one call of joined names and arguments whose results the upstream cannot match.
     */
    @ParameterizedTest
    @ValueSource(strings = {"", "\"index\":0,"})
    void parallelToolCallsStreamedWithoutDistinctIndexesStaySeparate(String index) throws Exception {
        String paris = "{\"id\":\"call_1\",\"type\":\"function\",\"extra_content\":{\"google\":"
                + "{\"thought_signature\":\"sig\"}},\"function\":{\"name\":\"get_weather\","
                + "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}";
        String rome = "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
                + "\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}";
        upstreamAnswers(
                "two?",
                "text/event-stream",
                events(
                                "\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{" + index + paris.substring(1)
                                        + "]}",
                                "\"delta\":{\"tool_calls\":[{" + index + rome.substring(1) + "]}",
                                "\"delta\":{},\"finish_reason\":\"stop\"")
                        + "data: [DONE]\n\n");
        upstreamAnswers("rainy", "application/json", completion("{\"role\":\"assistant\",\"content\":\"ok\"}", "stop"));
        String id = newSession();

        assertThat(Http.postJson(proxy.uri("/"), chat(id, true, "{\"role\":\"user\",\"content\":\"two?\"}"))
                        .statusCode())
                .isEqualTo(200);
        Http.postJson(
                proxy.uri("/"),
                chat(
                        id,
                        false,
                        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"rainy\"},"
                                + "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"noon\"}"));

        var requests = Upstream.requests(upstream);
        JsonNode sent = JSON.readTree(requests.get(requests.size() - 1).getBodyAsString())
                .get("messages");
        assertThat(sent.get(1).get("tool_calls")).isEqualTo(JSON.readTree("[" + paris + "," + rome + "]"));
    }

    /** DashScope (Qwen) repeats a streamed call's id as {@code ""} on each piece after the first: the id stays. */
    @Test
    void aStreamedToolCallKeepsItsIdWhenLaterPiecesSendAnEmptyOne() throws Exception {
        upstreamAnswers(
                "weather?",
                "text/event-stream",
                events(
                                "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                                        + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\"}}]}",
                                "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"\",\"type\":\"function\","
                                        + "\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}",
                                "\"delta\":{},\"finish_reason\":\"tool_calls\"")
                        + "data: [DONE]\n\n");
        String id = newSession();

        assertThat(Http.postJson(proxy.uri("/"), chat(id, true, "{\"role\":\"user\",\"content\":\"weather?\"}"))
                        .statusCode())
                .isEqualTo(200);

        assertThat(history(id).get(1).get("toolCalls")).isEqualTo(JSON.readTree("[" + TOOL_CALL + "]"));
    }
}
