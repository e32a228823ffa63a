package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The official openai-java client, with only its base URL changed, through the proxy to an Azure-shaped
 * upstream and to an OpenAI-compatible one. The Azure upstream answers where Azure OpenAI's published
 * specification puts chat completions (Azure/azure-rest-api-specs,
 * {@code specification/cognitiveservices/data-plane/AzureOpenAI/inference/stable/2024-10-21/inference.json}:
 * {@code https://{endpoint}/openai} + {@code /deployments/{deployment-id}/chat/completions}, the required
 * {@code api-version} query and the {@code api-key} header); the SDK knows nothing of it.
 */
class NamedUpstreamSdkTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String AZURE_KEY = "azure-key-sdk-0123456789abcdef0123456789";

    @RegisterExtension
    static WireMockExtension azure = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @RegisterExtension
    static WireMockExtension local = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    TomcatProxy proxy;
    OpenAIClient client;

    @BeforeEach
    void start() {
        Map<String, String> s = new HashMap<>();
        s.put("upstreams.azure.kind", "azure");
        s.put("upstreams.azure.base-url", azure.baseUrl());
        s.put("upstreams.azure.keys", AZURE_KEY);
        s.put("upstreams.azure.api-version", "2024-10-21");
        s.put("upstreams.azure.aliases", "gpt-4o=prod-gpt4o");
        s.put("upstreams.local.kind", "compatible");
        s.put("upstreams.local.base-url", local.baseUrl() + "/v1");
        s.put("upstreams.local.models", "llama3*");
        proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig());
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
    }

    @AfterEach
    void stop() {
        client.close();
        proxy.close();
    }

    @Test
    void chatCompletionThroughAnAzureDeployment() throws Exception {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.CHAT_COMPLETION)));

        ChatCompletion completion = client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model("gpt-4o")
                        .addUserMessage("Hello")
                        .build());

        assertThat(completion.model()).isEqualTo("gpt-4o"); // the client's name, not the deployment's
        assertThat(completion.choices()).isNotEmpty();
        List<LoggedRequest> sent = azure.findAll(com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor(
                com.github.tomakehurst.wiremock.client.WireMock.anyUrl()));
        assertThat(sent).hasSize(1);
        assertThat(sent.get(0).getUrl())
                .isEqualTo("/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21");
        assertThat(sent.get(0).getHeader("api-key")).isEqualTo(AZURE_KEY);
        assertThat(sent.get(0).containsHeader("Authorization")).isFalse();
        assertThat(JSON.readTree(sent.get(0).getBodyAsString()).path("model").asText())
                .isEqualTo("prod-gpt4o");
    }

    @Test
    void streamingChatCompletionThroughACompatibleServer() {
        StringBuilder sse = new StringBuilder();
        OpenAiFixtures.chatStreamEvents("Hel", "lo").forEach(sse::append);
        local.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(sse.toString())));

        String text;
        try (StreamResponse<ChatCompletionChunk> stream = client.chat()
                .completions()
                .createStreaming(ChatCompletionCreateParams.builder()
                        .model("llama3.1-8b")
                        .addUserMessage("Say hello")
                        .build())) {
            text = stream.stream()
                    .flatMap(chunk -> chunk.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
        }

        assertThat(text).isEqualTo("Hello");
        List<LoggedRequest> sent = local.findAll(com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor(
                com.github.tomakehurst.wiremock.client.WireMock.anyUrl()));
        assertThat(sent).hasSize(1);
        assertThat(sent.get(0).containsHeader("Authorization")).isFalse(); // no keys: no auth, not the SDK's
    }
}
