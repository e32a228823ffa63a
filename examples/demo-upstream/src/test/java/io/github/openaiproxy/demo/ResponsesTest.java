package io.github.openaiproxy.demo;

import static io.github.openaiproxy.demo.HttpTestClient.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ResponsesTest {
    static DemoUpstream upstream;
    static HttpTestClient http;

    @BeforeAll
    static void start() {
        upstream = DemoUpstream.builder().tokenPause(Duration.ZERO).start();
        http = new HttpTestClient(upstream);
    }

    @AfterAll
    static void stop() {
        upstream.close();
    }

    @Test
    void answersAResponseObjectWithOneOutputTextMessage() {
        HttpResponse<String> response =
                http.post("/v1/responses", "{\"model\":\"gpt-4o-mini\",\"input\":\"Hi\",\"instructions\":\"Be nice\"}");

        assertThat(response.statusCode()).isEqualTo(200);
        JsonNode body = json(response);
        assertThat(body.get("id").asText()).startsWith("resp_demo_");
        assertThat(body.get("object").asText()).isEqualTo("response");
        assertThat(body.get("status").asText()).isEqualTo("completed");
        assertThat(body.get("model").asText()).isEqualTo("gpt-4o-mini");
        assertThat(body.get("instructions").asText()).isEqualTo("Be nice");
        JsonNode message = body.at("/output/0");
        assertThat(message.get("type").asText()).isEqualTo("message");
        assertThat(message.get("role").asText()).isEqualTo("assistant");
        assertThat(message.at("/content/0/type").asText()).isEqualTo("output_text");
        assertThat(message.at("/content/0/text").asText()).isEqualTo(CannedText.reply("Hi"));
        assertThat(body.at("/usage/total_tokens").asInt()).isPositive();
    }

    @Test
    void echoesTheLastUserItemOfAnInputArray() {
        JsonNode body = json(http.post("/v1/responses", """
                {"model":"gpt-4o-mini","input":[
                  {"role":"user","content":"old"},
                  {"type":"message","role":"user","content":[{"type":"input_text","text":"new one"}]}]}"""));

        assertThat(body.at("/output/0/content/0/text").asText()).endsWith("You said: \"new one\"");
    }

    @Test
    void streamsNamedEventsFromCreatedThroughDeltasToCompleted() {
        String body = http.post("/v1/responses", "{\"model\":\"gpt-4o-mini\",\"input\":\"Hi\",\"stream\":true}")
                .body();

        List<String> names = new ArrayList<>();
        List<JsonNode> events = new ArrayList<>();
        for (String block : body.split("\n\n")) {
            String[] lines = block.split("\n");
            assertThat(lines).hasSize(2);
            assertThat(lines[0]).startsWith("event: ");
            assertThat(lines[1]).startsWith("data: ");
            names.add(lines[0].substring(7));
            events.add(json(lines[1].substring(6)));
        }
        int tokens = Tokens.split(CannedText.reply("Hi")).size();
        List<String> expected = new ArrayList<>(List.of(
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"));
        for (int i = 0; i < tokens; i++) {
            expected.add("response.output_text.delta");
        }
        expected.addAll(List.of(
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"));
        assertThat(names).isEqualTo(expected);

        StringBuilder text = new StringBuilder();
        for (int i = 0; i < events.size(); i++) {
            assertThat(events.get(i).get("type").asText()).isEqualTo(names.get(i));
            assertThat(events.get(i).get("sequence_number").asInt()).isEqualTo(i);
            if (names.get(i).equals("response.output_text.delta")) {
                text.append(events.get(i).get("delta").asText());
            }
        }
        assertThat(text).hasToString(CannedText.reply("Hi"));
        JsonNode completed = events.get(events.size() - 1).get("response");
        assertThat(completed.get("status").asText()).isEqualTo("completed");
        assertThat(completed.at("/output/0/content/0/text").asText()).isEqualTo(CannedText.reply("Hi"));
        assertThat(events.get(0).at("/response/status").asText()).isEqualTo("in_progress");
    }
}
