package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A GraphQL call's upstream calls count against its caller's rate limits like any other request: no route
 * skips them. The GraphQL call itself reaches no upstream and is not counted.
 */
class GraphQlLimitsTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    @Test
    void getAiResponseCountsAgainstRequestsPerMinute() throws Exception {
        upstream.echoChats();
        try (GraphQlServer server =
                GraphQlServer.start(ProxySettings.from(Map.of("policies.anonymous.requests-per-minute", "2"))
                        .applyTo(GraphQlServer.config(upstream.baseUrl()))
                        .build())) {
            for (int i = 0; i < 2; i++) {
                JsonNode ok = GraphQlErrorsTest.json(server.post(GraphQlErrorsTest.CHAT));
                assertThat(ok.at("/data/getAIResponse/success").asBoolean())
                        .as(ok.toString())
                        .isTrue();
            }
            JsonNode refused = GraphQlErrorsTest.json(server.post(GraphQlErrorsTest.CHAT));
            assertThat(refused.at("/data/getAIResponse/success").asBoolean())
                    .as(refused.toString())
                    .isFalse();
            assertThat(refused.toString()).contains("requests-per-minute");
        }
        assertThat(upstream.server().getAllServeEvents()).hasSize(2);
    }
}
