package io.github.openaiproxy.demo;

import static io.github.openaiproxy.demo.HttpTestClient.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ChatCompletionsTest {
    static final Duration PAUSE = Duration.ofMillis(15);
    static final String HELLO_REPLY =
            "[demo] This is a canned reply from the offline demo upstream. You said: \"Hello there\"";

    static DemoUpstream upstream;
    static HttpTestClient http;

    @BeforeAll
    static void start() {
        upstream = DemoUpstream.builder().tokenPause(PAUSE).start();
        http = new HttpTestClient(upstream);
    }

    @AfterAll
    static void stop() {
        upstream.close();
    }

    @Test
    void answersAChatCompletionInOpenAisShape() {
        HttpResponse<String> response = http.post("/v1/chat/completions", """
                {"model":"gpt-4o-mini","messages":[
                  {"role":"system","content":"Be brief."},
                  {"role":"user","content":"Hello there"}]}""");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValue("application/json");
        JsonNode body = json(response);
        assertThat(body.get("id").asText()).startsWith("chatcmpl-demo-");
        assertThat(body.get("object").asText()).isEqualTo("chat.completion");
        assertThat(body.get("created").isIntegralNumber()).isTrue();
        assertThat(body.get("model").asText()).isEqualTo("gpt-4o-mini");
        JsonNode choice = body.get("choices").get(0);
        assertThat(choice.get("index").asInt()).isZero();
        assertThat(choice.get("finish_reason").asText()).isEqualTo("stop");
        assertThat(choice.get("logprobs").isNull()).isTrue();
        JsonNode message = choice.get("message");
        assertThat(message.get("role").asText()).isEqualTo("assistant");
        assertThat(message.get("content").asText()).isEqualTo(HELLO_REPLY);
        assertThat(message.get("refusal").isNull()).isTrue();
        JsonNode usage = body.get("usage");
        assertThat(usage.get("prompt_tokens").asInt()).isPositive();
        assertThat(usage.get("completion_tokens").asInt())
                .isEqualTo(Tokens.split(HELLO_REPLY).size());
        assertThat(usage.get("total_tokens").asInt())
                .isEqualTo(usage.get("prompt_tokens").asInt()
                        + usage.get("completion_tokens").asInt());
    }

    @Test
    void echoesTheLastUserMessageWhenContentIsAnArrayOfParts() {
        HttpResponse<String> response = http.post("/v1/chat/completions", """
                {"model":"gpt-4o","messages":[
                  {"role":"user","content":"first"},
                  {"role":"assistant","content":"ok"},
                  {"role":"user","content":[
                    {"type":"text","text":"What is"},
                    {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
                    {"type":"text","text":"this?"}]}]}""");

        assertThat(json(response).at("/choices/0/message/content").asText())
                .endsWith("You said: \"What is [image] this?\"");
    }

    @Test
    void cutsTheReplyAtMaxTokensWithFinishReasonLength() {
        JsonNode body = json(http.post("/v1/chat/completions", """
                {"model":"gpt-4o-mini","max_tokens":3,"messages":[{"role":"user","content":"Hello there"}]}"""));

        assertThat(body.at("/choices/0/message/content").asText()).isEqualTo("[demo] This is");
        assertThat(body.at("/choices/0/finish_reason").asText()).isEqualTo("length");
        assertThat(body.at("/usage/completion_tokens").asInt()).isEqualTo(3);
    }

    @Test
    void streamsOneChunkPerTokenIncrementallyAndEndsWithDone() {
        HttpRequest request = http.request("/v1/chat/completions")
                .header("Authorization", HttpTestClient.AUTH)
                .POST(HttpRequest.BodyPublishers.ofString("""
                        {"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello there"}]}"""))
                .build();
        List<String> data = new ArrayList<>();
        List<Long> arrivals = new ArrayList<>();

        HttpResponse<Stream<String>> response = http.send(request, HttpResponse.BodyHandlers.ofLines());
        try (Stream<String> lines = response.body()) {
            lines.forEach(line -> {
                if (line.startsWith("data: ")) {
                    data.add(line.substring(6));
                    arrivals.add(System.nanoTime());
                } else {
                    assertThat(line).as("only data lines and blank separators").isEmpty();
                }
            });
        }

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValue("text/event-stream; charset=utf-8");
        assertThat(response.headers().firstValue("content-length")).isEmpty();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        List<JsonNode> chunks = data.subList(0, data.size() - 1).stream()
                .map(HttpTestClient::json)
                .toList();
        int tokens = Tokens.split(HELLO_REPLY).size();
        assertThat(chunks).hasSize(tokens + 2); // role chunk, one per token, finish chunk

        JsonNode first = chunks.get(0);
        assertThat(first.get("object").asText()).isEqualTo("chat.completion.chunk");
        assertThat(first.get("id").asText()).startsWith("chatcmpl-demo-");
        assertThat(first.at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        assertThat(first.has("usage")).as("usage only when asked for").isFalse();
        StringBuilder text = new StringBuilder();
        for (JsonNode chunk : chunks) {
            assertThat(chunk.get("id")).isEqualTo(first.get("id"));
            assertThat(chunk.get("created")).isEqualTo(first.get("created"));
            text.append(chunk.at("/choices/0/delta/content").asText(""));
        }
        assertThat(text).hasToString(HELLO_REPLY);
        JsonNode last = chunks.get(chunks.size() - 1);
        assertThat(last.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertThat(last.at("/choices/0/delta").isEmpty()).isTrue();

        // Paced, not buffered: the stream spans at least half its pauses.
        Duration spread = Duration.ofNanos(arrivals.get(arrivals.size() - 1) - arrivals.get(0));
        assertThat(spread).isGreaterThan(PAUSE.multipliedBy(data.size() - 1).dividedBy(2));
    }

    @Test
    void sendsAUsageChunkWithoutChoicesWhenStreamOptionsAskForIt() {
        String body = http.post("/v1/chat/completions", """
                        {"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},
                         "messages":[{"role":"user","content":"Hi"}]}""").body();

        List<String> data = body.lines()
                .filter(l -> l.startsWith("data: "))
                .map(l -> l.substring(6))
                .toList();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        JsonNode usageChunk = json(data.get(data.size() - 2));
        assertThat(usageChunk.get("choices").isEmpty()).isTrue();
        assertThat(usageChunk.at("/usage/total_tokens").asInt()).isPositive();
        for (String chunk : data.subList(0, data.size() - 2)) {
            assertThat(json(chunk).get("usage").isNull()).isTrue();
        }
    }

    @Test
    void rejectsAChatWithoutMessagesNamingTheParameter() {
        HttpResponse<String> response = http.post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\"}");

        assertThat(response.statusCode()).isEqualTo(400);
        JsonNode error = json(response).get("error");
        assertThat(error.get("param").asText()).isEqualTo("messages");
        assertThat(error.get("code").asText()).isEqualTo("missing_required_parameter");
    }

    @Test
    void rejectsAChatWithoutModel() {
        HttpResponse<String> response =
                http.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(json(response).at("/error/message").asText()).isEqualTo("you must provide a model parameter");
    }

    @Test
    void readsALargeBodyWholeAndEchoesOnlyAShortPart() {
        String big = "a".repeat(20 * 1024 * 1024);
        HttpResponse<String> response = http.post(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"" + big + "\"}]}");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(json(response).at("/choices/0/message/content").asText())
                .endsWith("You said: \"" + "a".repeat(CannedText.MAX_ECHO) + "...\"");
    }
}
