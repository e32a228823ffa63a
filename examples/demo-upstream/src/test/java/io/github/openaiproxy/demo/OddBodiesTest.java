package io.github.openaiproxy.demo;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every field of every endpoint set to every JSON kind: the answer is a 200 or a 4xx, never a 500. */
class OddBodiesTest {
    static final Map<String, String> VALID_BODIES = Map.of(
            "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "/v1/responses", "{\"model\":\"m\",\"input\":\"hi\"}",
            "/v1/images/generations", "{\"model\":\"gpt-image-1\",\"prompt\":\"hi\"}",
            "/v1/embeddings", "{\"model\":\"m\",\"input\":\"hi\",\"dimensions\":4}");
    static final List<String> FIELDS = List.of(
            "model",
            "messages",
            "input",
            "prompt",
            "instructions",
            "n",
            "size",
            "quality",
            "response_format",
            "dimensions",
            "encoding_format",
            "stream",
            "stream_options",
            "max_tokens",
            "max_completion_tokens");
    static final List<String> ODD_VALUES =
            List.of("null", "0", "-1", "1.5", "1e400", "\"\"", "\"x\"", "[]", "[null]", "{}", "true", "[[]]");

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
    void neverAnswersA500() {
        List<String> failures = new ArrayList<>();
        VALID_BODIES.forEach((path, valid) -> {
            for (String field : FIELDS) {
                for (String value : ODD_VALUES) {
                    ObjectNode body = (ObjectNode) HttpTestClient.json(valid);
                    body.set(field, HttpTestClient.json(value));
                    HttpResponse<String> response = http.post(path, body.toString());
                    if (response.statusCode() >= 500 || !isJsonOrStream(response)) {
                        failures.add(path + " " + body + " -> " + response.statusCode());
                    }
                }
            }
        });

        assertThat(failures).isEmpty();
    }

    private static boolean isJsonOrStream(HttpResponse<String> response) {
        if (response.headers().firstValue("content-type").orElse("").startsWith("text/event-stream")) {
            return response.body().endsWith("\n\n");
        }
        JsonNode json = HttpTestClient.json(response);
        return json.isObject() && (response.statusCode() == 200 || json.has("error"));
    }
}
