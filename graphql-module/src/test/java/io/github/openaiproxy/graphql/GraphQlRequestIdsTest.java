package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A GraphQL error for a failed sub-request carries, as {@code extensions.requestId}, the {@code x-request-id} its REST
 * answer would: the proxy's own id, which the proxy's log line for the failure names, so a user holding the error can
 * find that line. Never the client's own {@code X-Request-Id}.
 */
class GraphQlRequestIdsTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final String ID = "req_proxy_[0-9a-f]{32}";

    private final List<String> logged = new CopyOnWriteArrayList<>();
    private final Logger proxyLogs = Logger.getLogger("io.github.openaiproxy");
    private Level levelBefore;
    private final Handler handler = new Handler() {
        @Override
        public void publish(LogRecord r) {
            logged.add(new java.util.logging.SimpleFormatter().formatMessage(r));
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void listen() {
        levelBefore = proxyLogs.getLevel();
        proxyLogs.setLevel(Level.FINE); // the line for a 4xx is DEBUG
        handler.setLevel(Level.ALL);
        proxyLogs.addHandler(handler);
    }

    @AfterEach
    void stopListening() {
        proxyLogs.removeHandler(handler);
        proxyLogs.setLevel(levelBefore);
    }

    @Test
    void anUnreachableUpstreamsErrorNamesTheIdOfTheWarningAboutIt() throws Exception {
        try (GraphQlServer server = GraphQlServer.start(
                GraphQlServer.config(URI.create("http://127.0.0.1:9")).build())) {
            JsonNode body = post(server);
            assertThat(body.at("/errors/0/extensions/code").asText()).isEqualTo("UPSTREAM_ERROR");
            String id = body.at("/errors/0/extensions/requestId").asText();
            assertThat(id).as(body.toString()).matches(ID);
            assertThat(logged)
                    .anySatisfy(line ->
                            assertThat(line).contains("upstream call failed").contains(id));
        }
    }

    @Test
    void aLimitRefusalNamesTheIdOfTheLineAboutIt() throws Exception {
        upstream.echoChats();
        try (GraphQlServer server =
                GraphQlServer.start(ProxySettings.from(Map.of("policies.anonymous.requests-per-minute", "1"))
                        .applyTo(GraphQlServer.config(upstream.baseUrl()))
                        .build())) {
            assertThat(post(server).at("/data/getAIResponse/success").asBoolean())
                    .isTrue();
            JsonNode refused = post(server);
            assertThat(refused.at("/errors/0/extensions/code").asText()).isEqualTo("RATE_LIMITED");
            String id = refused.at("/errors/0/extensions/requestId").asText();
            assertThat(id).as(refused.toString()).matches(ID);
            assertThat(logged)
                    .anySatisfy(line ->
                            assertThat(line).contains("the proxy answered 429").contains(id));
        }
        assertThat(upstream.server().getAllServeEvents()).hasSize(1);
    }

    @Test
    void anUpstreamErrorNamesTheUpstreamsOwnIdAsItsRestAnswerDoes() throws Exception {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(500)
                                .withHeader("Content-Type", "application/json")
                                .withHeader("x-request-id", "req_upstream0123456789abcdef")
                                .withBody("{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}")));
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode body = post(server);
            assertThat(body.at("/errors/0/extensions/code").asText()).isEqualTo("UPSTREAM_ERROR");
            assertThat(body.at("/errors/0/extensions/requestId").asText()).isEqualTo("req_upstream0123456789abcdef");
        }
    }

    /** An unknown session is answered 404 with an id on REST, whichever session route it reaches. */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "{ chatHistory(sessionId: \"ses_nope\") { id } }",
                "{ chatHistoryPage(sessionId: \"ses_nope\") { hasMore } }",
                "mutation { deleteSession(sessionId: \"ses_nope\") { success } }",
                "mutation { getAIResponse(input: {sessionId: \"ses_nope\","
                        + " messages: [{role: \"user\", content: \"hi\"}]}) { success } }"
            })
    void anUnknownSessionNamesTheIdOfItsRestAnswer(String query) throws Exception {
        try (GraphQlServer server =
                GraphQlServer.start(GraphQlServer.config(upstream.baseUrl()).build())) {
            JsonNode body = GraphQlErrorsTest.json(server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(new com.fasterxml.jackson.databind.ObjectMapper()
                            .createObjectNode()
                            .put("query", query)
                            .toString()))));
            assertThat(body.at("/errors/0/extensions/code").asText())
                    .as(body.toString())
                    .isEqualTo("NOT_FOUND");
            assertThat(body.at("/errors/0/extensions/requestId").asText())
                    .as(body.toString())
                    .matches(ID);
        }
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    /** The client's own id is never taken: it could forge the line a support ticket points at. */
    private static JsonNode post(GraphQlServer server) throws Exception {
        JsonNode body = GraphQlErrorsTest.json(server.send(HttpRequest.newBuilder(server.uri("/graphql"))
                .header("Content-Type", "application/json")
                .header("X-Request-Id", "client-chosen-id")
                .POST(HttpRequest.BodyPublishers.ofString(GraphQlErrorsTest.CHAT))));
        assertThat(body.toString()).doesNotContain("client-chosen-id");
        return body;
    }
}
