package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Named upstreams over real HTTP: a request is routed by its model to an OpenAI-shaped default upstream, an
 * Azure-shaped one or a compatible server without auth; an alias renames the model on the way and the answer
 * names the client's model again; the response says which upstream served, by name only.
 *
 * <p>The Azure upstream speaks Azure OpenAI's published wire format, specification
 * Azure/azure-rest-api-specs, {@code specification/cognitiveservices/data-plane/AzureOpenAI/inference/stable/2024-10-21/inference.json}:
 * server {@code https://{endpoint}/openai}, path {@code /deployments/{deployment-id}/chat/completions}, required
 * query {@code api-version}, security scheme {@code apiKey} (the {@code api-key} header).
 */
class NamedUpstreamsHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String AZURE_KEY = "azure-key-0123456789abcdef0123456789abcdef";

    @RegisterExtension
    static WireMockExtension openai = Upstream.extension();

    @RegisterExtension
    static WireMockExtension azure = Upstream.extension();

    @RegisterExtension
    static WireMockExtension local = Upstream.extension();

    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        Map<String, String> settings = new HashMap<>();
        settings.put("api-key", Upstream.SERVER_KEY);
        settings.put("base-url", openai.baseUrl());
        settings.put("upstreams.azure.kind", "azure");
        settings.put("upstreams.azure.base-url", azure.baseUrl());
        settings.put("upstreams.azure.keys", AZURE_KEY);
        settings.put("upstreams.azure.api-version", "2024-10-21");
        settings.put("upstreams.azure.models", "gpt-4o*");
        settings.put("upstreams.azure.aliases", "gpt-4o=prod-gpt4o");
        settings.put("upstreams.local.kind", "compatible");
        settings.put("upstreams.local.base-url", local.baseUrl() + "/v1");
        settings.put("upstreams.local.models", "llama3*, qwen2.5, meta-llama/Llama-3.1-8B-Instruct");
        ProxyConfig config = ProxySettings.from(settings).toConfig();
        proxy = TomcatProxy.servlet(config);
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    private static HttpResponse<String> chat(String model, String... headers) {
        return Http.postJson(
                proxy.uri("/v1/chat/completions"),
                "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                headers);
    }

    @Test
    void anAliasedModelGoesToAzuresDeploymentPathWithTheApiKeyHeaderAndComesBackUnderTheClientsName() throws Exception {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(okJson("{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-2024-08-06\","
                        + "\"choices\":[]}")));

        HttpResponse<String> r = chat("gpt-4o", "Authorization", "Bearer client-credential", "x-openai-key", "sk-x");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).path("model").asText()).isEqualTo("gpt-4o");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("azure");
        assertThat(r.headers().map().toString()).doesNotContain(azure.baseUrl()).doesNotContain(AZURE_KEY);
        LoggedRequest sent = Upstream.onlyRequest(azure);
        assertThat(sent.getUrl()).isEqualTo("/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21");
        assertThat(sent.getHeader("api-key")).isEqualTo(AZURE_KEY);
        assertThat(Upstream.headerNames(sent)).doesNotContain("authorization", "x-openai-key");
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("prod-gpt4o");
        Upstream.assertNoCalls(openai);
    }

    @Test
    void aStreamFromAnAliasedModelNamesTheClientsModelInEveryChunk() {
        String chunk = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(chunk + chunk + "data: [DONE]\n\n")));

        HttpResponse<String> r = Http.postJson(
                proxy.uri("/v1/chat/completions"),
                "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body().split("\n\n"))
                .containsExactly(
                        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}",
                        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}",
                        "data: [DONE]");
    }

    @Test
    void aGlobRoutesToACompatibleServerWithoutAuthAndAnUnaliasedBodyGoesAsSent() {
        local.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"llama3.1-8b\",\"choices\":[]}")));
        String body = "{\"model\":\"llama3.1-8b\",   \"messages\":[]}";

        HttpResponse<String> r = Http.postJson(proxy.uri("/v1/chat/completions"), body);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("local");
        LoggedRequest sent = Upstream.onlyRequest(local);
        assertThat(sent.getBodyAsString()).isEqualTo(body); // not serialized again: no alias renamed it
        assertThat(Upstream.headerNames(sent)).doesNotContain("authorization", "api-key");
    }

    @Test
    void anotherModelGoesToTheDefaultUpstreamOfApiKeyAndBaseUrl() {
        openai.stubFor(any(anyUrl()).willReturn(okJson("{\"model\":\"o3-mini\",\"choices\":[]}")));

        HttpResponse<String> r = chat("o3-mini");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("openai");
        LoggedRequest sent = Upstream.onlyRequest(openai);
        assertThat(sent.getUrl()).isEqualTo("/v1/chat/completions");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + Upstream.SERVER_KEY);
        Upstream.assertNoCalls(azure);
        Upstream.assertNoCalls(local);
    }

    @Test
    void theModelListMergesEveryUpstreamsConfiguredModels() throws Exception {
        HttpResponse<String> r = Http.get(proxy.uri("/v1/models"));

        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode list = JSON.readTree(r.body());
        assertThat(list.path("object").asText()).isEqualTo("list");
        assertThat(list.path("data").findValuesAsText("id"))
                .containsExactly("gpt-4o", "qwen2.5", "meta-llama/Llama-3.1-8B-Instruct");
        assertThat(list.path("data").findValuesAsText("owned_by")).containsExactly("azure", "local", "local");
        HttpResponse<String> head = Http.call("HEAD", proxy.uri("/v1/models"), null);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.body()).isEmpty();
        Upstream.assertNoCalls(openai);
    }

    @Test
    void aListedModelIsRetrievedAsListedAndAnotherFromTheDefaultUpstream() throws Exception {
        // gpt-4o is an alias: Azure knows it as prod-gpt4o, so only the proxy can answer for the listed name.
        HttpResponse<String> listed = Http.get(proxy.uri("/v1/models/gpt-4o"));
        openai.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"o3-mini\",\"object\":\"model\"}")));
        HttpResponse<String> other = Http.get(proxy.uri("/v1/models/o3-mini"));

        assertThat(listed.statusCode()).isEqualTo(200);
        JsonNode model = JSON.readTree(listed.body());
        assertThat(model.path("id").asText()).isEqualTo("gpt-4o");
        assertThat(model.path("object").asText()).isEqualTo("model");
        assertThat(model.path("owned_by").asText()).isEqualTo("azure");
        assertThat(other.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(openai).getUrl()).isEqualTo("/v1/models/o3-mini");
        Upstream.assertNoCalls(azure);
    }

    /**
     * A listed id with a slash (a compatible server's name) is retrieved from the upstream that serves it, as the Node
     * SDK asks; an Azure deployment's alias is not (see above).
     */
    @Test
    void aListedModelWithASlashIsRetrievedFromItsUpstream() throws Exception {
        local.stubFor(any(anyUrl())
                .willReturn(okJson("{\"id\":\"meta-llama/Llama-3.1-8B-Instruct\",\"object\":\"model\","
                        + "\"owned_by\":\"vllm\"}")));

        HttpResponse<String> r = Http.get(proxy.uri("/v1/models/meta-llama/Llama-3.1-8B-Instruct"));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode model = JSON.readTree(r.body());
        assertThat(model.path("id").asText()).isEqualTo("meta-llama/Llama-3.1-8B-Instruct");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("local");
        LoggedRequest sent = Upstream.onlyRequest(local);
        assertThat(sent.getUrl()).isEqualTo("/v1/models/meta-llama/Llama-3.1-8B-Instruct");
        assertThat(Upstream.headerNames(sent)).doesNotContain("authorization", "api-key");
        Upstream.assertNoCalls(openai);
    }

    @Test
    void aModelNameThatIsNoDeploymentNameNeverBecomesAnAzurePath() {
        // "gpt-4o*" matches it, but '/' would make it a path of its own on Azure.
        HttpResponse<String> r = chat("gpt-4o/../../other");

        assertThat(r.statusCode()).isEqualTo(404);
        Upstream.assertNoCalls(azure);
        Upstream.assertNoCalls(openai);
    }

    @Test
    void anAzureUpstreamServesOnlyTheOperationsOfItsDeployments() {
        HttpResponse<String> r = Http.postJson(proxy.uri("/v1/responses"), "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");

        assertThat(r.statusCode()).isEqualTo(404);
        Upstream.assertNoCalls(azure);
    }

    @Test
    void anAzureErrorIsRelayedWithTheUpstreamNamedAndTheKeyMasked() throws Exception {
        // The specification's errorResponse: {"error": {"code", "message", ...}}.
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(400)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"code\":\"BadRequest\",\"message\":\"bad key " + AZURE_KEY + "\"}}")));

        HttpResponse<String> r = chat("gpt-4o");

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).doesNotContain(AZURE_KEY);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("azure");
        assertThat(List.of(r.headers().allValues("OpenAI-Proxy-Upstream"))).hasSize(1);
    }
}
