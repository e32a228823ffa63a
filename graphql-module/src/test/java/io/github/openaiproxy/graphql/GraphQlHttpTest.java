package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** GraphQL over HTTP as the specification describes it, and bad input that never gives a 500. */
class GraphQlHttpTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();
    static final String CREATE = "{\"query\":\"mutation { createSession { sessionId success } }\"}";
    static final String HISTORY = "query H($id: String) { chatHistory(sessionId: $id) { content } }";
    static GraphQlServer server;

    @BeforeAll
    static void start() {
        server = GraphQlServer.start(GraphQlServer.config(upstream.baseUrl())
                .cors(CorsConfig.builder()
                        .origins(List.of("https://chat.example"))
                        .build())
                .build());
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

    HttpResponse<String> post(String body, String accept) {
        return server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("Accept", accept)
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    HttpResponse<String> get(String query) {
        return server.send(HttpRequest.newBuilder(server.uri("/graphql?" + query))
                .header("Accept", "application/graphql-response+json")
                .GET());
    }

    static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    String newSession() {
        return json(server.post(CREATE)).at("/data/createSession/sessionId").asText();
    }

    @Test
    void queriesWorkOverGetWithVariablesAndOperationName() {
        String id = newSession();
        HttpResponse<String> r = get("query=" + encode(HISTORY + " query Other { __typename }") + "&operationName=H"
                + "&variables=" + encode("{\"id\":\"" + id + "\"}"));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type").orElseThrow())
                .startsWith("application/graphql-response+json");
        assertThat(json(r).at("/data/chatHistory")).isEmpty();
    }

    @Test
    void mutationsOverGetAre405() {
        HttpResponse<String> r = get("query=" + encode("mutation { createSession { sessionId } }"));
        assertThat(r.statusCode()).isEqualTo(405);
        assertThat(r.headers().firstValue("allow")).hasValue("GET, HEAD, OPTIONS, POST");
        assertThat(json(r).at("/errors/0/message").asText()).contains("POST");
    }

    /** Several operations and no name: the client is told to name one, not judged by the first operation's kind. */
    @Test
    void severalOperationsWithoutANameAreAskedForTheNameWhateverTheFirstOneIs() {
        String subscriptionFirst = "subscription S { chatStream(input: {messages: [{role: \"user\", content: \"hi\"}]})"
                + " { content } } query Q { __typename }";
        HttpResponse<String> r = post(
                JSON.createObjectNode().put("query", subscriptionFirst).toString(),
                "application/graphql-response+json");
        assertThat(json(r).at("/errors/0/message").asText()).as(r.body()).contains("operation name");
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("GRAPHQL_VALIDATION_FAILED");
        r = get("query=" + encode("mutation M { createSession { sessionId } } query Q { __typename }"));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/message").asText()).contains("operation name");
    }

    @Test
    void onlyTheSelectedFieldsAreAnswered() {
        JsonNode data = json(server.post(CREATE)).get("data");
        assertThat(data.get("createSession").size()).isEqualTo(2);
        JsonNode typename = json(server.post("{\"query\":\"{ __typename }\"}")).get("data");
        assertThat(typename.toString()).isEqualTo("{\"__typename\":\"Query\"}");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{",
                "[]",
                "\"query\"",
                "{\"query\":null}",
                "{\"query\":\"\"}",
                "{\"query\":5}",
                "{\"query\":\"{ __typename }\",\"variables\":[1]}",
                "{\"query\":\"{ __typename }\",\"operationName\":7}",
                "{\"query\":\"{ __typename }\"} trailing",
                // A member named twice: a filter in front reads the first, the engine would run the last.
                "{\"query\":\"{ __typename }\",\"query\":\"mutation { createSession { sessionId } }\"}",
                "{\"query\":\"{ __typename }\",\"variables\":{\"a\":1,\"a\":2}}"
            })
    void malformedRequestsAre400WithErrors(String body) {
        for (String accept : List.of("application/json", "application/graphql-response+json")) {
            HttpResponse<String> r = post(body, accept);
            assertThat(r.statusCode()).as(body).isEqualTo(400);
            assertThat(json(r).at("/errors/0/message").asText()).isNotBlank();
        }
    }

    @Test
    void aGetThatGivesAParameterTwiceIs400() {
        HttpResponse<String> r =
                get("query=" + encode("{ __typename }") + "&query=" + encode("{ __schema { types { name } } }"));
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/message").asText()).contains("query twice");
        assertThat(get("query=" + encode("{ __typename }") + "&unrelated=1&unrelated=2")
                        .statusCode())
                .isEqualTo(200);
    }

    /**
     * Apollo Client's persisted-query link first sends only the query's hash, and sends the query itself only when
     * the answer says {@code PersistedQueryNotSupported} (or {@code PersistedQueryNotFound}) by message or code;
     * any other refusal fails the operation, so every operation of such a client failed.
     */
    @Test
    void aPersistedQueryHashIsAnsweredPersistedQueryNotSupportedSoApolloSendsTheQuery() {
        String id = newSession();
        String hash = "0d5f0e1a8ec2d4f7ae56f5b9d3a7c1e2b4f6a8c0d2e4f6a8b0c2d4e6f8a0b2c4";
        String extensions = "{\"persistedQuery\":{\"version\":1,\"sha256Hash\":\"" + hash + "\"}}";
        String variables = "{\"id\":\"" + id + "\"}";
        HttpResponse<String> hashed = post(
                "{\"operationName\":\"H\",\"variables\":" + variables + ",\"extensions\":" + extensions + "}", "*/*");
        HttpResponse<String> hashedGet = server.send(HttpRequest.newBuilder(server.uri("/graphql?operationName=H"
                        + "&variables=" + encode(variables) + "&extensions=" + encode(extensions)))
                .header("Accept", "*/*")
                .GET());
        for (HttpResponse<String> r : List.of(hashed, hashedGet)) {
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            assertThat(json(r).at("/errors/0/message").asText()).isEqualTo("PersistedQueryNotSupported");
            assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("PERSISTED_QUERY_NOT_SUPPORTED");
        }
        // What the link sends next: the query, with or without the hash; nothing is stored by hash.
        for (String retry : List.of(
                "{\"query\":\"" + HISTORY + "\",\"operationName\":\"H\",\"variables\":" + variables + "}",
                "{\"query\":\"" + HISTORY + "\",\"operationName\":\"H\",\"variables\":" + variables + ",\"extensions\":"
                        + extensions + "}")) {
            HttpResponse<String> r = post(retry, "*/*");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(json(r).at("/data/chatHistory").isArray()).as(r.body()).isTrue();
        }
        // Without a hash, a missing query is still the plain request error.
        assertThat(json(post("{\"extensions\":{}}", "*/*"))
                        .at("/errors/0/message")
                        .asText())
                .isEqualTo("The request has no query");
    }

    @Test
    void aBodyThatIsNotJsonIs415() {
        HttpResponse<String> r = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("query=x")));
        assertThat(r.statusCode()).isEqualTo(415);
        assertThat(json(r).has("errors")).isTrue();
    }

    @Test
    void anAcceptHeaderItCannotServeIs406() {
        HttpResponse<String> r = post(CREATE, "text/html");
        assertThat(r.statusCode()).isEqualTo(406);
    }

    @Test
    void syntaxErrorsAreParseFailures() {
        String body = "{\"query\":\"{ chatHistory(sessionId: \\\"x\\\" { id }\"}";
        HttpResponse<String> plain = post(body, "application/json");
        assertThat(plain.statusCode()).isEqualTo(200);
        assertThat(json(plain).at("/errors/0/extensions/code").asText()).isEqualTo("GRAPHQL_PARSE_FAILED");
        assertThat(json(plain).has("data")).isFalse();
        HttpResponse<String> spec = post(body, "application/graphql-response+json");
        assertThat(spec.statusCode()).isEqualTo(400);
        assertThat(spec.headers().firstValue("content-type").orElseThrow())
                .startsWith("application/graphql-response+json");
    }

    @Test
    void unknownFieldsAndWrongVariableTypesAreValidationFailures() {
        HttpResponse<String> unknown = post(
                "{\"query\":\"{ chatHistory(sessionId: \\\"x\\\") { id secret } }\"}",
                "application/graphql-response+json");
        assertThat(unknown.statusCode()).isEqualTo(400);
        assertThat(json(unknown).at("/errors/0/extensions/code").asText()).isEqualTo("GRAPHQL_VALIDATION_FAILED");
        assertThat(json(unknown).at("/errors/0/message").asText()).contains("secret");

        HttpResponse<String> wrongType = post(
                "{\"query\":\"query Q($id: String) { chatHistory(sessionId: $id) { id } }\","
                        + "\"variables\":{\"id\":{\"not\":\"a string\"}}}",
                "application/graphql-response+json");
        assertThat(wrongType.statusCode()).isEqualTo(400);
        assertThat(json(wrongType).at("/errors/0/extensions/code").asText()).isEqualTo("GRAPHQL_VALIDATION_FAILED");

        HttpResponse<String> missingInput = post(
                "{\"query\":\"mutation M($input: ChatInput!) { getAIResponse(input: $input) { id } }\"}",
                "application/json");
        assertThat(missingInput.statusCode()).isEqualTo(200);
        assertThat(json(missingInput).at("/errors/0/message").asText()).contains("input");
    }

    @Test
    void overDeepQueriesAreRefused() {
        String deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType {"
                + " ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } }";
        HttpResponse<String> r =
                post(JSON.createObjectNode().put("query", deep).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/message").asText()).containsIgnoringCase("depth");
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
    }

    /** graphql-java's own introspection limits (good-faith introspection) refuse the document, as the depth limit does. */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }",
                "{ a: __type(name: \"Query\") { name } b: __type(name: \"Mutation\") { name } }",
                "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
            })
    void introspectionAskedInBadFaithIsTooComplexNotAServerError(String query) {
        HttpResponse<String> r =
                post(JSON.createObjectNode().put("query", query).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/message").asText()).containsIgnoringCase("introspection");
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
    }

    @Test
    void tooManyFieldsAreRefused() {
        StringBuilder q = new StringBuilder("{ ");
        for (int i = 0; i < 200; i++) {
            q.append("a").append(i).append(": chatHistory(sessionId: \"x\") { id content } ");
        }
        q.append("}");
        HttpResponse<String> r =
                post(JSON.createObjectNode().put("query", q.toString()).toString(), "application/json");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).at("/errors/0/message").asText()).containsIgnoringCase("complexity");
    }

    /**
     * graphql-java's complexity count leaves {@code __typename} out, and validation compares every pair of fields
     * with one response key before any limit runs: 9,000 {@code __typename} in a 100 KB document took seconds of
     * CPU and were answered. A document is held to {@code graphql.max-complexity} fields as written, first.
     */
    @ParameterizedTest
    @ValueSource(strings = {"__typename ", "a: __typename ", "t%d: __typename "})
    void aDocumentWithMoreFieldsThanTheComplexityLimitIsRefusedBeforeValidation(String field) {
        StringBuilder q = new StringBuilder("{ ");
        for (int i = 0; i < 501; i++) {
            q.append(field.formatted(i));
        }
        q.append("}");
        HttpResponse<String> r = post(
                JSON.createObjectNode().put("query", q.toString()).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).has("data")).isFalse();
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
        assertThat(json(r).at("/errors/0/message").asText()).contains("500");
    }

    @Test
    void fieldsUnderASkipCountAsWrittenAndFragmentsOnceNotPerSpread() {
        String skipped = "{ __typename" + " __typename @skip(if: true)".repeat(500) + " }";
        HttpResponse<String> r =
                post(JSON.createObjectNode().put("query", skipped).toString(), "application/json");
        assertThat(json(r).at("/errors/0/extensions/code").asText())
                .as(r.body())
                .isEqualTo("QUERY_TOO_COMPLEX");
        // 400 spreads of 90 fields: 491 selections as written, 36,000 once spread.
        String spreads = "{" + " ...F".repeat(400) + " } fragment F on Query {" + " __typename".repeat(90) + " }";
        r = post(JSON.createObjectNode().put("query", spreads).toString(), "application/json");
        assertThat(json(r).has("errors")).as(r.body()).isFalse();
        assertThat(json(r).at("/data/__typename").asText()).isEqualTo("Query");
    }

    /**
     * The parser bounds how deep one definition nests, not a chain of fragments: 1,400 fragments each spreading the
     * next (50 KB) overflowed the stack of graphql-java's validation, a 500 with a thousand-line trace logged.
     */
    @Test
    void aChainOfFragmentsTooDeepToValidateIsTooComplexNotAServerError() {
        StringBuilder q = new StringBuilder("{ ...F0 }");
        int n = 1400;
        for (int i = 0; i < n; i++) {
            q.append(" fragment F")
                    .append(i)
                    .append(" on Query { ...F")
                    .append(i + 1)
                    .append(" }");
        }
        q.append(" fragment F").append(n).append(" on Query { __typename }");
        HttpResponse<String> r = post(
                JSON.createObjectNode().put("query", q.toString()).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
    }

    /**
     * A chain within the selections the document may hold but nested past {@value DocumentLimits#MAX_NESTING}:
     * validation's cycle check costs about the fragments times the square of their chains, so five chains of 99
     * (500 selections) took 0.3 s of CPU each; at most 50 deep, about half that at most.
     */
    @Test
    void aChainOfFragmentsPastTheNestingLimitIsTooComplexThoughItsSelectionsFit() {
        // The operation's spread, then fragments spreading the next, then a field: n + 1 deep.
        HttpResponse<String> r = post(
                JSON.createObjectNode()
                        .put("query", chain(DocumentLimits.MAX_NESTING))
                        .toString(),
                "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
        assertThat(json(r).at("/errors/0/message").asText()).contains("nests selections more than 50");

        r = post(
                JSON.createObjectNode()
                        .put("query", chain(DocumentLimits.MAX_NESTING - 1))
                        .toString(),
                "application/graphql-response+json");
        assertThat(json(r).has("errors")).as(r.body()).isFalse();
        assertThat(json(r).at("/data/__typename").asText()).isEqualTo("Query");
    }

    /** An operation spreading {@code F1}, fragments {@code F1} to {@code F<n-1>} spreading the next, {@code F<n>}. */
    private static String chain(int n) {
        StringBuilder q = new StringBuilder("{ ...F1 }");
        for (int i = 1; i < n; i++) {
            q.append(" fragment F")
                    .append(i)
                    .append(" on Query { ...F")
                    .append(i + 1)
                    .append(" }");
        }
        return q.append(" fragment F")
                .append(n)
                .append(" on Query { __typename }")
                .toString();
    }

    /** Fragment spreads count as selections: a fragment may hold nothing else, and each costs the cycle check. */
    @Test
    void fragmentSpreadsCountAsSelectionsAsWritten() {
        StringBuilder q = new StringBuilder("{ __typename }");
        for (int c = 0; c < 18; c++) {
            for (int i = 0; i < 30; i++) {
                q.append(" fragment F")
                        .append(c)
                        .append('_')
                        .append(i)
                        .append(" on Query { ...F")
                        .append(c)
                        .append('_')
                        .append(i + 1)
                        .append(" }");
            }
            q.append(" fragment F").append(c).append("_30 on Query { __typename }");
        }
        HttpResponse<String> r = post(
                JSON.createObjectNode().put("query", q.toString()).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/message").asText()).contains("selections");
    }

    /**
     * Validation follows the spreads of every fragment, spread or not, to find cycles: a chain of 400 fragments no
     * operation spreads took it 5 seconds of CPU, 1,800 (60 KB) over a minute. Each fragment's nesting is held to
     * the limit, and a name defined twice to the deeper of its definitions.
     */
    @ParameterizedTest
    @ValueSource(strings = {"{ __typename }", "{ ...F0 } fragment F0 on Query { __typename }"})
    void aChainOfFragmentsNoOperationFollowsIsTooComplexAtOnce(String start) {
        StringBuilder q = new StringBuilder(start);
        int n = 1800;
        for (int i = 0; i < n; i++) {
            q.append(" fragment F")
                    .append(i)
                    .append(" on Query { ...F")
                    .append(i + 1)
                    .append(" }");
        }
        q.append(" fragment F").append(n).append(" on Query { __typename }");
        long began = System.nanoTime();
        HttpResponse<String> r = post(
                JSON.createObjectNode().put("query", q.toString()).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
        assertThat(System.nanoTime() - began).isLessThan(java.util.concurrent.TimeUnit.SECONDS.toNanos(5));
    }

    /** Fragments that each spread the next twice: the nesting is measured once per fragment, not per path (2^60). */
    @Test
    void fragmentsSpreadManyTimesOverAreMeasuredOnce() {
        StringBuilder q = new StringBuilder("{ ...F0 }");
        int n = 60;
        for (int i = 0; i < n; i++) {
            q.append(" fragment F")
                    .append(i)
                    .append(" on Query { ...F")
                    .append(i + 1)
                    .append(" ... on Query { ...F")
                    .append(i + 1)
                    .append(" } }");
        }
        q.append(" fragment F").append(n).append(" on Query { __typename }");
        HttpResponse<String> r = post(
                JSON.createObjectNode().put("query", q.toString()).toString(), "application/graphql-response+json");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("QUERY_TOO_COMPLEX");
    }

    @Test
    void hugeDocumentsAre400() {
        String huge = "{ __typename " + "#".repeat(200_000) + "\n}";
        HttpResponse<String> r = post(JSON.createObjectNode().put("query", huge).toString(), "application/json");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).at("/errors/0/message").asText()).contains("100000");
    }

    @Test
    void theIntrospectionQueryOfGraphiqlFitsTheDefaultLimits() {
        String introspection = graphql.introspection.IntrospectionQuery.INTROSPECTION_QUERY;
        HttpResponse<String> r =
                post(JSON.createObjectNode().put("query", introspection).toString(), "application/json");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).has("errors")).as(r.body()).isFalse();
        assertThat(r.body()).contains("getAIResponse").contains("chatStream");
    }

    @Test
    void introspectionCanBeSwitchedOff() {
        try (GraphQlServer closed = GraphQlServer.start(
                GraphQlServer.config(upstream.baseUrl()).build(),
                GraphQlOptions.DEFAULTS.withIntrospection(false),
                b -> b)) {
            HttpResponse<String> r = closed.post("{\"query\":\"{ __schema { types { name } } }\"}");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(json(r).at("/errors/0/message").asText()).containsIgnoringCase("introspection");
            // A refused document, as GraphQL servers code it, not a fault of the server's (monitors page on those).
            assertThat(json(r).at("/errors/0/extensions/code").asText()).isEqualTo("GRAPHQL_VALIDATION_FAILED");
            HttpResponse<String> type = closed.send(HttpRequest.newBuilder(closed.uri("/graphql"))
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/graphql-response+json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"query\":\"{ t: __type(name: \\\"Mutation\\\") { fields { name } } }\"}")));
            assertThat(type.statusCode()).as(type.body()).isEqualTo(400);
            assertThat(json(type).has("data")).isFalse();
            assertThat(json(type).at("/errors/0/extensions/code").asText()).isEqualTo("GRAPHQL_VALIDATION_FAILED");
            assertThat(type.body()).doesNotContain("getAIResponse");
            assertThat(json(closed.post(CREATE))
                            .at("/data/createSession/success")
                            .asBoolean())
                    .isTrue();
        }
    }

    @Test
    void browsersGetTheProxysCors() {
        HttpResponse<String> preflight = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "https://chat.example")
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type"));
        assertThat(preflight.statusCode()).isEqualTo(204);
        assertThat(preflight.headers().firstValue("access-control-allow-origin"))
                .hasValue("https://chat.example");

        HttpResponse<String> r = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("Origin", "https://chat.example")
                .POST(HttpRequest.BodyPublishers.ofString(CREATE)));
        assertThat(r.headers().firstValue("access-control-allow-origin")).hasValue("https://chat.example");

        HttpResponse<String> other = server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("Origin", "https://evil.example")
                .POST(HttpRequest.BodyPublishers.ofString(CREATE)));
        assertThat(other.statusCode()).isEqualTo(403);
    }

    @Test
    void otherMethodsAre405() {
        HttpResponse<String> r = server.send(
                HttpRequest.newBuilder(server.uri("/graphql")).PUT(HttpRequest.BodyPublishers.ofString(CREATE)));
        assertThat(r.statusCode()).isEqualTo(405);
        assertThat(r.headers().firstValue("allow")).hasValue("GET, HEAD, OPTIONS, POST");
    }

    @Test
    void everyAnswerCarriesNoSniffOnce() {
        // A module route's own headers join the engine's common ones: nosniff must be there, and only once.
        HttpResponse<String> ok = post("{\"query\":\"{ __typename }\"}", "application/graphql-response+json");
        HttpResponse<String> notAllowed = get("query=" + encode("mutation { createSession { sessionId } }"));
        HttpResponse<String> badJson = post("{", "application/json");
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(notAllowed.statusCode()).isEqualTo(405);
        assertThat(badJson.statusCode()).isEqualTo(400);
        for (HttpResponse<String> r : List.of(ok, notAllowed, badJson)) {
            assertThat(r.headers().allValues("X-Content-Type-Options"))
                    .as("X-Content-Type-Options on %s", r.statusCode())
                    .containsExactly("nosniff");
        }
    }
}
