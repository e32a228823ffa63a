package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.WireMock;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * GraphQL's getAIResponse and generateImage run their sub-requests through the simple routes, so with named
 * upstreams they are routed by model too: to the upstream that serves it, the model renamed by an alias, the
 * ledger naming the upstream that served. The Azure upstream answers where Azure OpenAI's specification
 * (Azure/azure-rest-api-specs,
 * {@code specification/cognitiveservices/data-plane/AzureOpenAI/inference/stable/2024-10-21/inference.json})
 * puts image generation: {@code /openai/deployments/{deployment-id}/images/generations?api-version=} with the
 * {@code api-key} header.
 */
class GraphQlNamedUpstreamsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String LOCAL_KEY = "sk-local-0123456789abcdefghijklmnopq";
    private static final String AZURE_KEY = "azure-key-graphql-0123456789abcdef0123";

    @RegisterExtension
    static final Upstream openai = new Upstream();

    @RegisterExtension
    static final Upstream local = new Upstream();

    @RegisterExtension
    static final Upstream azure = new Upstream();

    private static GraphQlServer start(InMemoryUsageLedger ledger) {
        return GraphQlServer.start(
                ProxySettings.from(Map.of(
                                "upstreams.local.kind", "compatible",
                                "upstreams.local.base-url", local.baseUrl() + "/v1",
                                "upstreams.local.keys", LOCAL_KEY,
                                "upstreams.local.aliases", "gpt-4o=llama3-70b",
                                "upstreams.azure.kind", "azure",
                                "upstreams.azure.base-url", azure.baseUrl().toString(),
                                "upstreams.azure.keys", AZURE_KEY,
                                "upstreams.azure.api-version", "2024-10-21",
                                "upstreams.azure.aliases", "dall-e-3=prod-dalle3"))
                        .applyTo(GraphQlServer.config(openai.baseUrl()))
                        .build(),
                GraphQlOptions.DEFAULTS,
                b -> b.usageLedger(ledger));
    }

    private static LoggedRequest onlyRequest(Upstream upstream) {
        List<LoggedRequest> all = upstream.server().findAll(WireMock.anyRequestedFor(WireMock.anyUrl()));
        assertThat(all).hasSize(1);
        return all.get(0);
    }

    @Test
    void getAiResponseIsRoutedByItsModelWithTheAliasAppliedAndTheLedgerNamesTheUpstream() throws Exception {
        local.server()
                .stubFor(WireMock.post("/v1/chat/completions")
                        .willReturn(WireMock.okJson("{\"id\":\"chatcmpl-local\",\"object\":\"chat.completion\","
                                + "\"created\":1,\"model\":\"llama3-70b\",\"choices\":[{\"index\":0,"
                                + "\"message\":{\"role\":\"assistant\",\"content\":\"Hello from local\"},"
                                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
                                + "\"completion_tokens\":3,\"total_tokens\":12}}")));
        InMemoryUsageLedger ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
        try (GraphQlServer server = start(ledger)) {
            JsonNode answer = GraphQlErrorsTest.json(server.post("{\"query\":\"mutation { getAIResponse(input: "
                    + "{model: \\\"gpt-4o\\\", messages: [{role: \\\"user\\\", content: \\\"Hi\\\"}]})"
                    + " { id content success error } }\"}"));

            assertThat(answer.at("/data/getAIResponse/success").asBoolean())
                    .as(answer.toString())
                    .isTrue();
            assertThat(answer.at("/data/getAIResponse/content").asText()).isEqualTo("Hello from local");
        }
        LoggedRequest sent = onlyRequest(local);
        assertThat(sent.getUrl()).isEqualTo("/v1/chat/completions");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + LOCAL_KEY);
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("llama3-70b");
        assertThat(openai.server().getAllServeEvents()).isEmpty();
        assertThat(ledger.rows()).singleElement().satisfies(row -> {
            assertThat(row.upstream()).isEqualTo("local");
            assertThat(row.requestedModel()).isEqualTo("gpt-4o");
            assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
        });
    }

    @Test
    void generateImageIsRoutedToAnAzureDeploymentWithItsApiVersionAndApiKey() throws Exception {
        azure.server()
                .stubFor(WireMock.post(WireMock.urlPathEqualTo("/openai/deployments/prod-dalle3/images/generations"))
                        .willReturn(WireMock.okJson(
                                "{\"created\":1,\"data\":[{\"url\":\"https://images.example/cat.png\"}]}")));
        InMemoryUsageLedger ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
        try (GraphQlServer server = start(ledger)) {
            JsonNode answer = GraphQlErrorsTest.json(server.post("{\"query\":\"mutation { generateImage(input: "
                    + "{prompt: \\\"a cat\\\", model: \\\"dall-e-3\\\"}) { id success error images { url } } }\"}"));

            assertThat(answer.at("/data/generateImage/success").asBoolean())
                    .as(answer.toString())
                    .isTrue();
            assertThat(answer.at("/data/generateImage/images/0/url").asText())
                    .isEqualTo("https://images.example/cat.png");
        }
        LoggedRequest sent = onlyRequest(azure);
        assertThat(sent.getUrl())
                .isEqualTo("/openai/deployments/prod-dalle3/images/generations?api-version=2024-10-21");
        assertThat(sent.getHeader("api-key")).isEqualTo(AZURE_KEY);
        assertThat(sent.containsHeader("Authorization")).isFalse();
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("prod-dalle3");
        assertThat(openai.server().getAllServeEvents()).isEmpty();
        assertThat(ledger.rows())
                .singleElement()
                .satisfies(row -> assertThat(row.upstream()).isEqualTo("azure"));
    }
}
