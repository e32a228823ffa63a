package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A GraphQL call runs under its caller's policy: the call itself is the route {@code graphql}, and each
 * upstream call it makes is checked as its own route and model.
 */
class GraphQlPolicyTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    private static GraphQlServer server(Map<String, String> settings) {
        return GraphQlServer.start(ProxySettings.from(settings)
                .applyTo(GraphQlServer.config(upstream.baseUrl()))
                .build());
    }

    @Test
    void theGraphQlRouteItselfMustBeAllowed() {
        try (GraphQlServer server = server(Map.of("policies.anonymous.routes", "chat"))) {
            HttpResponse<String> r = server.post(GraphQlErrorsTest.CHAT);
            assertThat(r.statusCode()).isEqualTo(403);
            assertThat(r.body()).contains("Forbidden");
        }
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void eachUpstreamCallIsCheckedAsItsOwnRouteAndModel() throws Exception {
        try (GraphQlServer server = server(Map.of("policies.anonymous.routes", "graphql"))) {
            JsonNode body = GraphQlErrorsTest.json(server.post(GraphQlErrorsTest.CHAT));
            assertThat(body.at("/data/getAIResponse/success").asBoolean())
                    .as(body.toString())
                    .isFalse();
            assertThat(body.at("/errors/0/extensions/code").asText()).isEqualTo("FORBIDDEN");
        }
        try (GraphQlServer server = server(Map.of("policies.anonymous.models", "gpt-4o-mini"))) {
            // The chat's default model (gpt-3.5-turbo) is not allowed.
            JsonNode body = GraphQlErrorsTest.json(server.post(GraphQlErrorsTest.CHAT));
            assertThat(body.at("/data/getAIResponse/success").asBoolean())
                    .as(body.toString())
                    .isFalse();
            assertThat(body.at("/errors/0/extensions/code").asText()).isEqualTo("FORBIDDEN");
        }
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }
}
