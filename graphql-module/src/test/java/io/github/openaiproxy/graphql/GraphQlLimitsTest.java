package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.time.Clock;
import java.time.Duration;
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
            // Told apart from a fault of the proxy's, with the wait the REST answer's Retry-After gives.
            assertThat(refused.at("/errors/0/extensions/code").asText()).isEqualTo("RATE_LIMITED");
            assertThat(refused.at("/errors/0/extensions/reason").asText()).isEqualTo("rate_limit_exceeded");
            assertThat(refused.at("/errors/0/extensions/retryAfter").asInt()).isBetween(1, 60);
        }
        assertThat(upstream.server().getAllServeEvents()).hasSize(2);
    }

    @Test
    void aSpentBudgetIsToldApartFromARateLimitAndGivesNoWait() throws Exception {
        upstream.echoChats();
        // One call reserves its prompt plus the simple route's default max_tokens of 1000: over a month's 500.
        try (GraphQlServer server =
                GraphQlServer.start(ProxySettings.from(Map.of("policies.anonymous.tokens-per-month", "500"))
                        .applyTo(GraphQlServer.config(upstream.baseUrl()))
                        .build())) {
            JsonNode refused = GraphQlErrorsTest.json(server.post(GraphQlErrorsTest.CHAT));
            assertThat(refused.at("/data/getAIResponse/success").asBoolean())
                    .as(refused.toString())
                    .isFalse();
            assertThat(refused.at("/errors/0/extensions/code").asText()).isEqualTo("RATE_LIMITED");
            // REST's insufficient_quota: waiting does not help, so a client must not retry it in a loop.
            assertThat(refused.at("/errors/0/extensions/reason").asText()).isEqualTo("insufficient_quota");
            assertThat(refused.at("/errors/0/extensions/retryAfter").isMissingNode())
                    .as(refused.toString())
                    .isTrue();
        }
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void createSessionCountsAgainstRequestsPerMinute() throws Exception {
        // It calls no upstream, but makes a session that a database store keeps: one request each, as on REST.
        try (GraphQlServer server =
                GraphQlServer.start(ProxySettings.from(Map.of("policies.anonymous.requests-per-minute", "3"))
                        .applyTo(GraphQlServer.config(upstream.baseUrl()))
                        .build())) {
            for (int i = 0; i < 3; i++) {
                JsonNode ok = GraphQlErrorsTest.json(server.post(GraphQlHttpTest.CREATE));
                assertThat(ok.at("/data/createSession/success").asBoolean())
                        .as(ok.toString())
                        .isTrue();
            }
            JsonNode refused = GraphQlErrorsTest.json(server.post(GraphQlHttpTest.CREATE));
            assertThat(refused.at("/data/createSession/success").asBoolean())
                    .as(refused.toString())
                    .isFalse();
            assertThat(refused.at("/errors/0/extensions/code").asText()).isEqualTo("RATE_LIMITED");
            assertThat(refused.at("/errors/0/extensions/retryAfter").asInt()).isBetween(1, 60);
        }
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void getAiResponseIsRecordedWithTheUpstreamsUsageAndItsReservationSettled() throws Exception {
        upstream.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(WireMock.okJson("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
                                        + "\"created\":1,\"model\":\"gpt-3.5-turbo-0125\",\"choices\":[{\"index\":0,"
                                        + "\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
                                        + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
                                        + "\"completion_tokens\":2,\"total_tokens\":11,"
                                        + "\"prompt_tokens_details\":{\"cached_tokens\":0}}}")
                                .withHeader("x-request-id", "req_graphql_1")));
        InMemoryUsageLedger ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
        // Each call reserves its prompt plus the simple route's default max_tokens of 1000: a second and a third
        // fit in 2000 only because each was settled at the 11 tokens it used.
        try (GraphQlServer server = GraphQlServer.start(
                ProxySettings.from(Map.of("policies.anonymous.tokens-per-minute", "2000"))
                        .applyTo(GraphQlServer.config(upstream.baseUrl()))
                        .build(),
                GraphQlOptions.DEFAULTS,
                b -> b.usageLedger(ledger))) {
            for (int i = 0; i < 3; i++) {
                JsonNode ok = GraphQlErrorsTest.json(server.post(GraphQlErrorsTest.CHAT));
                assertThat(ok.at("/data/getAIResponse/success").asBoolean())
                        .as(ok.toString())
                        .isTrue();
            }
        }
        assertThat(ledger.rows()).hasSize(3).allSatisfy(r -> {
            assertThat(r.usage()).isEqualTo(new TokenUsage(9, 0, 2, 0, 0));
            assertThat(r.estimated()).isFalse();
            assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
            assertThat(r.answeringModel()).isEqualTo("gpt-3.5-turbo-0125");
            assertThat(r.upstreamRequestId()).isEqualTo("req_graphql_1");
            assertThat(r.policy()).isEqualTo("anonymous");
        });
    }
}
