package io.github.openaiproxy.demo;

import static io.github.openaiproxy.demo.HttpTestClient.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RoutingAndErrorsTest {
    static DemoUpstream upstream;
    static HttpTestClient http;

    @BeforeAll
    static void start() {
        upstream = DemoUpstream.start();
        http = new HttpTestClient(upstream);
    }

    @AfterAll
    static void stop() {
        upstream.close();
    }

    @Test
    void listsModelsAndRetrievesOne() {
        JsonNode list = json(http.get("/v1/models"));
        assertThat(list.get("object").asText()).isEqualTo("list");
        assertThat(list.get("data").findValuesAsText("id"))
                .contains("gpt-4o-mini", "gpt-3.5-turbo", "dall-e-3", "text-embedding-3-small");
        for (JsonNode model : list.get("data")) {
            assertThat(model.get("object").asText()).isEqualTo("model");
            assertThat(model.get("created").isIntegralNumber()).isTrue();
            assertThat(model.get("owned_by").asText()).isEqualTo(Models.OWNER);
        }

        JsonNode one = json(http.get("/v1/models/dall-e-3"));
        assertThat(one.get("id").asText()).isEqualTo("dall-e-3");
        assertThat(one.get("object").asText()).isEqualTo("model");
    }

    @Test
    void answers404ModelNotFoundForAnUnknownModel() {
        HttpResponse<String> response = http.get("/v1/models/gpt-99");

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(json(response).at("/error/code").asText()).isEqualTo("model_not_found");
        assertThat(json(response).at("/error/param").asText()).isEqualTo("model");
    }

    @Test
    void marksEveryAnswerAsTheDemosWithRequestIdAndRateLimitHeaders() {
        for (HttpResponse<String> response :
                List.of(http.get("/v1/models"), http.post("/v1/nope", "{}"), http.send(http.request("/v1/models")))) {
            assertThat(response.headers().firstValue("x-demo-upstream")).hasValue("true");
            assertThat(response.headers().firstValue("x-request-id"))
                    .hasValueSatisfying(id -> assertThat(id).matches("req_demo_[0-9a-f]{32}"));
            assertThat(response.headers().firstValue("openai-processing-ms")).isPresent();
            assertThat(response.headers().map().keySet())
                    .contains(
                            "x-ratelimit-limit-requests",
                            "x-ratelimit-limit-tokens",
                            "x-ratelimit-remaining-requests",
                            "x-ratelimit-remaining-tokens",
                            "x-ratelimit-reset-requests",
                            "x-ratelimit-reset-tokens");
        }
    }

    @Test
    void answers401InOpenAisShapeWithoutABearerToken() {
        for (HttpRequest.Builder request : List.of(
                http.request("/v1/models"),
                http.request("/v1/models").header("Authorization", "Basic ZGVtbzpkZW1v"),
                http.request("/v1/models").header("Authorization", "Bearer  "))) {
            HttpResponse<String> response = http.send(request);

            assertThat(response.statusCode()).isEqualTo(401);
            assertOpenAiError(json(response), "invalid_request_error");
            assertThat(json(response).at("/error/message").asText()).startsWith("You didn't provide an API key");
        }
    }

    @Test
    void answers404InOpenAisShapeForAnUnknownRoute() {
        HttpResponse<String> response = http.post("/v1/chat/complete", "{}");

        assertThat(response.statusCode()).isEqualTo(404);
        JsonNode error = assertOpenAiError(json(response), "invalid_request_error");
        assertThat(error.get("message").asText()).isEqualTo("Invalid URL (POST /v1/chat/complete)");
    }

    @Test
    void answers405WithAllowForTheWrongMethod() {
        HttpResponse<String> get = http.get("/v1/chat/completions");
        HttpResponse<String> post = http.post("/v1/models", "{}");

        assertThat(get.statusCode()).isEqualTo(405);
        assertThat(get.headers().firstValue("allow")).hasValue("POST");
        assertOpenAiError(json(get), "invalid_request_error");
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("allow")).hasValue("GET");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{", "", "not json", "{\"model\":\"x\"} trailing"})
    void answers400WithTypeAndNullParamAndCodeForInvalidJson(String body) {
        HttpResponse<String> response = http.post("/v1/chat/completions", body);

        assertThat(response.statusCode()).isEqualTo(400);
        JsonNode error = assertOpenAiError(json(response), "invalid_request_error");
        assertThat(error.get("param").isNull()).isTrue();
        assertThat(error.get("code").isNull()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"[1,2]", "\"text\"", "42", "null"})
    void answers400ForJsonThatIsNotAnObject(String body) {
        HttpResponse<String> response = http.post("/v1/embeddings", body);

        assertThat(response.statusCode()).isEqualTo(400);
        assertOpenAiError(json(response), "invalid_request_error");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"model\":1,\"messages\":[]}",
                "{\"model\":\"m\",\"messages\":\"hi\"}",
                "{\"model\":\"m\",\"messages\":[1,null,{\"role\":5,\"content\":{}}]}",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[null,1,{\"type\":7}]}]}",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"max_tokens\":\"many\"}",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream\":\"yes\",\"stream_options\":3}",
            })
    void neverFailsWithA500OnStrangeChatBodies(String body) {
        HttpResponse<String> response = http.post("/v1/chat/completions", body);

        assertThat(response.statusCode()).isIn(200, 400);
        assertThat(json(response).isObject()).isTrue();
    }

    @Test
    void keepsServingAfterBadRequests() {
        http.post("/v1/chat/completions", "{");
        http.post("/v1/images/generations", "[]");

        assertThat(http.get("/v1/models").statusCode()).isEqualTo(200);
    }

    /** Checks the exact shape {"error":{"message","type","param","code"}} and returns the inner object. */
    static JsonNode assertOpenAiError(JsonNode body, String type) {
        assertThat(body.size()).isEqualTo(1);
        JsonNode error = body.get("error");
        assertThat(error).isNotNull();
        assertThat(error.properties())
                .extracting(java.util.Map.Entry::getKey)
                .containsExactlyInAnyOrder("message", "type", "param", "code");
        assertThat(error.get("message").asText()).isNotBlank();
        assertThat(error.get("type").asText()).isEqualTo(type);
        return error;
    }
}
