package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * One GraphQL request must not multiply billed upstream calls: aliases, fragments and inline fragments of
 * getAIResponse / generateImage count against {@code graphql.max-upstream-calls} before any call is made;
 * and one answer is capped at {@code graphql.max-response-size} bytes.
 */
class GraphQlCostLimitsTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String INPUT = "(input: {messages: [{role: \"user\", content: \"hi\"}]})";
    static GraphQlServer server;

    @BeforeAll
    static void start() {
        server = GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static JsonNode json(HttpResponse<String> r) {
        try {
            return JSON.readTree(r.body());
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + r.body(), e);
        }
    }

    static HttpResponse<String> post(GraphQlServer on, String query, String variables, String accept) {
        var body = JSON.createObjectNode().put("query", query);
        if (variables != null) {
            try {
                body.set("variables", JSON.readTree(variables));
            } catch (Exception e) {
                throw new IllegalArgumentException(e);
            }
        }
        return on.send(HttpRequest.newBuilder(on.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("Accept", accept)
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())));
    }

    static HttpResponse<String> post(String query) {
        return post(server, query, null, "application/json");
    }

    void assertRefusedWithoutUpstreamCall(HttpResponse<String> r, int calls) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode answer = json(r);
        assertThat(answer.has("data")).as(r.body()).isFalse();
        assertThat(answer.at("/errors/0/extensions/code").asText()).isEqualTo("BAD_USER_INPUT");
        assertThat(answer.at("/errors/0/message").asText())
                .contains(calls + " upstream calls")
                .contains("graphql.max-upstream-calls");
        upstream.server().verify(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void twoAliasedCompletionsAreRefusedBeforeAnyUpstreamCall() {
        upstream.echoChats();
        HttpResponse<String> r = post(
                "mutation { a: getAIResponse" + INPUT + " { content } b: getAIResponse" + INPUT + " { content } }");
        assertRefusedWithoutUpstreamCall(r, 2);

        HttpResponse<String> spec = post(
                server,
                "mutation { a: getAIResponse" + INPUT + " { content } b: getAIResponse" + INPUT + " { content } }",
                null,
                "application/graphql-response+json");
        assertThat(spec.statusCode())
                .as("as for any request refused before execution")
                .isEqualTo(400);
        assertThat(json(spec).at("/errors/0/extensions/code").asText()).isEqualTo("BAD_USER_INPUT");
        upstream.server().verify(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void oneCompletionIsAllowedByDefault() {
        upstream.echoChats();
        HttpResponse<String> r = post("mutation { getAIResponse" + INPUT + " { content } }");
        assertThat(json(r).at("/data/getAIResponse/content").asText()).isEqualTo("re: hi");
        upstream.server().verify(1, anyRequestedFor(anyUrl()));
    }

    @Test
    void fragmentsInlineFragmentsAndImagesAreCounted() {
        String viaFragments = "mutation { ...Chat ... on Mutation { b: getAIResponse" + INPUT + " { id } } }"
                + " fragment Chat on Mutation { a: getAIResponse" + INPUT + " { id } }";
        assertRefusedWithoutUpstreamCall(post(viaFragments), 2);

        String mixed = "mutation { getAIResponse" + INPUT + " { id } ...Img }"
                + " fragment Img on Mutation { generateImage(input: {prompt: \"an otter\"}) { id } }";
        assertRefusedWithoutUpstreamCall(post(mixed), 2);

        StringBuilder many = new StringBuilder("mutation {");
        for (int i = 0; i < 15; i++) { // 15 x (25 + 1): within max-complexity
            many.append(" a").append(i).append(": generateImage(input: {prompt: \"p\"}) { id }");
        }
        assertRefusedWithoutUpstreamCall(post(many.append(" }").toString()), 15);
    }

    @Test
    void aHundredAliasesOfAFieldThatReadsAHistoryPageAreTooComplex() {
        // Each top-level field runs a route of the proxy's (chatHistory: a page of up to sessions.max-page-size):
        // it counts 25 towards max-complexity, so one small request cannot read a hundred pages.
        StringBuilder many = new StringBuilder("query {");
        for (int i = 0; i < 100; i++) {
            many.append(" h").append(i).append(": chatHistory(sessionId: \"s\") { id }");
        }
        HttpResponse<String> r = post(many.append(" }").toString());
        assertThat(json(r).at("/errors/0/extensions/code").asText())
                .as(r.body())
                .isEqualTo("QUERY_TOO_COMPLEX");
        upstream.server().verify(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void skipAndIncludeAreEvaluatedWithTheVariables() {
        upstream.echoChats();
        String query = "mutation M($second: Boolean!) { a: getAIResponse" + INPUT + " { content }" + " b: getAIResponse"
                + INPUT + " @include(if: $second) { content } }";
        assertRefusedWithoutUpstreamCall(post(server, query, "{\"second\":true}", "application/json"), 2);

        HttpResponse<String> one = post(server, query, "{\"second\":false}", "application/json");
        assertThat(json(one).at("/data/a/content").asText()).as(one.body()).isEqualTo("re: hi");
        assertThat(json(one).at("/data").has("b")).isFalse();
        upstream.server().verify(1, anyRequestedFor(anyUrl()));
    }

    @Test
    void theSameResponseKeyTwiceIsOneCall() {
        upstream.echoChats();
        // Execution merges the two selections into one field: one call, so it is within the default.
        HttpResponse<String> r = post("mutation { getAIResponse" + INPUT
                + " { id } ...F } fragment F on Mutation { getAIResponse" + INPUT + " { content } }");
        assertThat(json(r).at("/data/getAIResponse/content").asText())
                .as(r.body())
                .isEqualTo("re: hi");
        upstream.server().verify(1, anyRequestedFor(anyUrl()));
    }

    @Test
    void theLimitCanBeRaised() {
        upstream.echoChats();
        try (GraphQlServer two = GraphQlServer.start(
                GraphQlServer.config(upstream.baseUrl()).build(),
                GraphQlOptions.DEFAULTS.withMaxUpstreamCalls(2),
                b -> b)) {
            HttpResponse<String> r = post(
                    two,
                    "mutation { a: getAIResponse" + INPUT + " { content } b: getAIResponse" + INPUT + " { content } }",
                    null,
                    "application/json");
            assertThat(json(r).at("/data/a/content").asText()).as(r.body()).isEqualTo("re: hi");
            assertThat(json(r).at("/data/b/content").asText()).isEqualTo("re: hi");
            upstream.server().verify(2, anyRequestedFor(anyUrl()));

            HttpResponse<String> three = post(
                    two,
                    "mutation { a: getAIResponse" + INPUT + " { id } b: getAIResponse" + INPUT + " { id }"
                            + " c: getAIResponse" + INPUT + " { id } }",
                    null,
                    "application/json");
            assertThat(json(three).at("/errors/0/extensions/code").asText()).isEqualTo("BAD_USER_INPUT");
            upstream.server().verify(2, anyRequestedFor(anyUrl()));
        }
    }

    static final String BIG = "x".repeat(64 * 1024);

    /** Completions whose content is 64 KiB. */
    static void bigChats() {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(WireMock.aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":"
                                        + "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + BIG
                                        + "\"},\"finish_reason\":\"stop\"}]}")));
    }

    @Test
    void anAnswerOverTheSizeLimitIsAnErrorNotTheAnswer() {
        bigChats();
        try (GraphQlServer capped = GraphQlServer.start(
                GraphQlServer.config(upstream.baseUrl()).build(),
                GraphQlOptions.DEFAULTS.withMaxResponseSize(16 * 1024),
                b -> b)) {
            String query = "mutation { getAIResponse" + INPUT + " { content } }";
            for (String accept : new String[] {"application/json", "application/graphql-response+json"}) {
                HttpResponse<String> r = post(capped, query, null, accept);
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat(r.body().length()).isLessThan(1024);
                JsonNode answer = json(r);
                assertThat(answer.at("/errors/0/extensions/code").asText()).isEqualTo("RESPONSE_TOO_LARGE");
                assertThat(answer.at("/errors/0/message").asText()).contains("16384");
                assertThat(answer.get("data").isNull()).isTrue();
            }

            HttpResponse<String> sse = post(capped, query, null, "text/event-stream");
            assertThat(sse.statusCode()).isEqualTo(200);
            assertThat(sse.body()).contains("RESPONSE_TOO_LARGE").doesNotContain("xxxxxxxxxx");

            HttpResponse<String> small = post(capped, "mutation { getAIResponse" + INPUT + " { id } }", null, "*/*");
            assertThat(json(small).at("/data/getAIResponse/id").asText()).isEqualTo("c");
        }
    }

    @Test
    void theSizeLimitDefaultsToTheProxysMaxBodySize() {
        bigChats();
        try (GraphQlServer small = GraphQlServer.start(
                GraphQlServer.config(upstream.baseUrl()).maxBodySize(16 * 1024).build(),
                GraphQlOptions.DEFAULTS,
                b -> b)) {
            HttpResponse<String> r = post(small, "mutation { getAIResponse" + INPUT + " { content } }", null, "*/*");
            assertThat(json(r).at("/errors/0/extensions/code").asText())
                    .as(r.body())
                    .isEqualTo("RESPONSE_TOO_LARGE");
            assertThat(json(r).at("/errors/0/message").asText()).contains("16384");
        }
    }
}
