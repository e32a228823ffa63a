package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The simple routes ({@code POST /}, {@code /images/generations}) routed by model to named upstreams over real
 * HTTP, as {@code /v1} is: the normalized body's model picks the upstream (alias, then globs, then the default),
 * an alias renames it on the way and the answer names the client's model again, a 429 falls back (streamed or
 * not), the response and the usage ledger name the upstream that served, and a session records a routed stream.
 *
 * <p>The Azure upstream answers where Azure OpenAI's published specification puts its operations
 * (Azure/azure-rest-api-specs,
 * {@code specification/cognitiveservices/data-plane/AzureOpenAI/inference/stable/2024-10-21/inference.json}:
 * server {@code https://{endpoint}/openai}, paths {@code /deployments/{deployment-id}/chat/completions} and
 * {@code /deployments/{deployment-id}/images/generations}, the required {@code api-version} query and the
 * {@code api-key} header).
 */
class SimpleRoutesNamedUpstreamsHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String SERVER_KEY = "sk-proj-server0123456789abcdefghijklmnopqrstuvwxyz";
    private static final String AZURE_KEY = "azure-key-simple-0123456789abcdef012345";
    private static final String FIRST_KEY = "sk-first-0123456789abcdefghijklmnop";
    private static final String SECOND_KEY = "sk-second-0123456789abcdefghijklmno";
    private static final String CHAT_PATH = "/v1/chat/completions";

    @RegisterExtension
    static WireMockExtension openai = server();

    @RegisterExtension
    static WireMockExtension azure = server();

    @RegisterExtension
    static WireMockExtension first = server();

    @RegisterExtension
    static WireMockExtension second = server();

    private TomcatProxy proxy;
    private InMemoryUsageLedger ledger;

    private static WireMockExtension server() {
        return WireMockExtension.newInstance()
                .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
                .build();
    }

    @BeforeEach
    void start() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("upstreams.azure.kind", "azure");
        s.put("upstreams.azure.base-url", azure.baseUrl());
        s.put("upstreams.azure.keys", AZURE_KEY);
        s.put("upstreams.azure.api-version", "2024-10-21");
        s.put("upstreams.azure.aliases", "gpt-4o=prod-gpt4o, dall-e-3=prod-dalle3");
        s.put("upstreams.azure.models", "gpt-4o*");
        s.put("upstreams.first.kind", "compatible");
        s.put("upstreams.first.base-url", first.baseUrl() + "/v1");
        s.put("upstreams.first.keys", FIRST_KEY);
        s.put("upstreams.first.models", "mistral-*");
        s.put("upstreams.first.fallback", "second:qwen2.5");
        s.put("upstreams.second.kind", "compatible");
        s.put("upstreams.second.base-url", second.baseUrl() + "/v1");
        s.put("upstreams.second.keys", SECOND_KEY);
        s.put("upstreams.second.models", "qwen*");
        ledger = new InMemoryUsageLedger(1000, Duration.ofDays(1), Clock.systemUTC());
        proxy = TomcatProxy.servlet(ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .usageLedger(ledger)
                .build());
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    private static String chat(String model, String more) {
        return "{\"model\":\"" + model + "\"" + more + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    }

    private static String completion(String model) {
        return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"" + model + "\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
                + "\"total_tokens\":11}}";
    }

    private static String chunk(String model, String content) {
        return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"" + model
                + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + content + "\"}}]}\n\n";
    }

    private static LoggedRequest onlyRequest(WireMockExtension upstream) {
        List<LoggedRequest> all = upstream.findAll(anyRequestedFor(anyUrl()));
        assertThat(all).hasSize(1);
        return all.get(0);
    }

    private static void assertNoCalls(WireMockExtension upstream) {
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    private UsageRecord onlyLedgerRow() {
        await().atMost(WAIT).until(() -> !ledger.rows().isEmpty());
        assertThat(ledger.rows()).hasSize(1);
        return ledger.rows().get(0);
    }

    @Test
    void aChatOnPostSlashGoesToTheUpstreamServingItsModelWithThatUpstreamsKey() throws Exception {
        second.stubFor(post(urlPathEqualTo(CHAT_PATH)).willReturn(okJson(completion("qwen2.5-7b"))));

        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("qwen2.5-7b", ""));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("second");
        assertThat(JSON.readTree(r.body())
                        .path("choices")
                        .path(0)
                        .path("message")
                        .path("content")
                        .asText())
                .isEqualTo("Hello");
        LoggedRequest sent = onlyRequest(second);
        assertThat(sent.getUrl()).isEqualTo(CHAT_PATH);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SECOND_KEY);
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("qwen2.5-7b");
        assertNoCalls(openai);
        assertThat(onlyLedgerRow().upstream()).isEqualTo("second");
    }

    @Test
    void anAliasedChatOnPostSlashGoesToAzuresDeploymentAndTheAnswerNamesTheClientsModel() throws Exception {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(okJson(completion("gpt-4o-2024-08-06"))));

        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("gpt-4o", ""), "x-openai-key", "sk-client-x");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).path("model").asText()).isEqualTo("gpt-4o");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("azure");
        assertThat(r.headers().map().toString()).doesNotContain(azure.baseUrl()).doesNotContain(AZURE_KEY);
        LoggedRequest sent = onlyRequest(azure);
        assertThat(sent.getUrl()).isEqualTo("/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21");
        assertThat(sent.getHeader("api-key")).isEqualTo(AZURE_KEY);
        assertThat(sent.containsHeader("Authorization")).isFalse();
        assertThat(sent.containsHeader("x-openai-key")).isFalse();
        JsonNode body = JSON.readTree(sent.getBodyAsString());
        assertThat(body.path("model").asText()).isEqualTo("prod-gpt4o");
        assertThat(body.path("messages").path(0).path("content").asText()).isEqualTo("hi");
        assertNoCalls(openai);
        UsageRecord row = onlyLedgerRow();
        assertThat(row.upstream()).isEqualTo("azure");
        assertThat(row.requestedModel()).isEqualTo("gpt-4o");
    }

    @Test
    void anAliasedStreamOnPostSlashNamesTheClientsModelInEveryChunk() {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(chunk("gpt-4o-2024-08-06", "Hi") + chunk("gpt-4o-2024-08-06", "!")
                                + "data: [DONE]\n\n")));

        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("gpt-4o", ",\"stream\":true"));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("\"model\":\"gpt-4o\"").doesNotContain("gpt-4o-2024-08-06");
        assertThat(r.body()).contains("\"content\":\"Hi\"", "\"content\":\"!\"", "data: [DONE]");
        assertThat(onlyRequest(azure).getHeader("Accept")).isEqualTo("text/event-stream");
    }

    @Test
    void a429OnTheFirstUpstreamFallsBackOnPostSlashToTheNextWithItsModelAndKey() throws Exception {
        first.stubFor(post(urlPathEqualTo(CHAT_PATH))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("retry-after", "30")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Rate limit reached\"}}")));
        second.stubFor(post(urlPathEqualTo(CHAT_PATH)).willReturn(okJson(completion("qwen2.5"))));

        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("mistral-large", ""));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("second");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 429, second 200");
        // A fallback to another model tells the truth: the answer names the model that answered.
        assertThat(JSON.readTree(r.body()).path("model").asText()).isEqualTo("qwen2.5");
        LoggedRequest tried = onlyRequest(first);
        assertThat(tried.getHeader("Authorization")).isEqualTo("Bearer " + FIRST_KEY);
        assertThat(JSON.readTree(tried.getBodyAsString()).path("model").asText())
                .isEqualTo("mistral-large");
        LoggedRequest served = onlyRequest(second);
        assertThat(served.getHeader("Authorization")).isEqualTo("Bearer " + SECOND_KEY);
        JsonNode body = JSON.readTree(served.getBodyAsString());
        assertThat(body.path("model").asText()).isEqualTo("qwen2.5");
        assertThat(body.path("messages").path(0).path("content").asText()).isEqualTo("hi");
        assertNoCalls(openai);
        assertThat(onlyLedgerRow().upstream()).isEqualTo("second");
    }

    @Test
    void aStreamOnPostSlashGoesThroughTheFallbackBeforeItsFirstByte() {
        first.stubFor(post(urlPathEqualTo(CHAT_PATH))
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Rate limit reached\"}}")));
        second.stubFor(post(urlPathEqualTo(CHAT_PATH))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(chunk("qwen2.5", "Hel") + chunk("qwen2.5", "lo") + "data: [DONE]\n\n")));

        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("mistral-large", ",\"stream\":true"));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("first 429, second 200");
        assertThat(r.body()).contains("\"content\":\"Hel\"", "\"content\":\"lo\"", "data: [DONE]");
        assertThat(r.body()).doesNotContain("Rate limit reached");
        LoggedRequest served = onlyRequest(second);
        assertThat(served.getHeader("Accept")).isEqualTo("text/event-stream");
        assertThat(served.getBodyAsString()).contains("\"stream\":true");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/images/generations", "/generate-image"})
    void anImageGenerationGoesToAnAzureDeploymentWithItsApiVersionAndApiKey(String route) throws Exception {
        String image = "{\"created\":1,\"data\":[{\"url\":\"https://images.example/x.png\"}]}";
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-dalle3/images/generations"))
                .willReturn(okJson(image)));

        HttpResponse<String> r = Http.postJson(proxy.uri(route), "{\"prompt\":\"a cat\",\"model\":\"dall-e-3\"}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("azure");
        assertThat(JSON.readTree(r.body()).path("data").path(0).path("url").asText())
                .isEqualTo("https://images.example/x.png");
        LoggedRequest sent = onlyRequest(azure);
        assertThat(sent.getUrl())
                .isEqualTo("/openai/deployments/prod-dalle3/images/generations?api-version=2024-10-21");
        assertThat(sent.getHeader("api-key")).isEqualTo(AZURE_KEY);
        assertThat(sent.containsHeader("Authorization")).isFalse();
        JsonNode body = JSON.readTree(sent.getBodyAsString());
        assertThat(body.path("model").asText()).isEqualTo("prod-dalle3");
        assertThat(body.path("prompt").asText()).isEqualTo("a cat");
        assertNoCalls(openai);
    }

    @Test
    void aSessionRecordsTheAssistantMessageOfARoutedAliasedStream() throws Exception {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(chunk("gpt-4o-2024-08-06", "Hel") + chunk("gpt-4o-2024-08-06", "lo")
                                + "data: [DONE]\n\n")));
        HttpResponse<String> created = Http.postJson(proxy.uri("/sessions"), "");
        assertThat(created.statusCode()).isEqualTo(201);
        String id = JSON.readTree(created.body()).get("sessionId").asText();

        HttpResponse<String> r =
                Http.postJson(proxy.uri("/"), chat("gpt-4o", ",\"stream\":true,\"sessionId\":\"" + id + "\""));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("azure");
        assertThat(r.body()).contains("\"content\":\"Hel\"", "\"content\":\"lo\"");
        await().atMost(WAIT).untilAsserted(() -> {
            JsonNode messages = JSON.readTree(
                            Http.get(proxy.uri("/sessions/" + id + "/messages")).body())
                    .path("messages");
            assertThat(messages.findValuesAsText("role")).containsExactly("user", "assistant");
            assertThat(messages.path(1).path("content").asText()).isEqualTo("Hello");
        });
        LoggedRequest sent = onlyRequest(azure);
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("prod-gpt4o");
    }

    @Test
    void aModelNameThatIsNoDeploymentNameNeverBecomesAnAzurePathOnPostSlash() {
        // "gpt-4o*" matches it, but '/' would make it a path of its own on Azure.
        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("gpt-4o/../../other", ""));

        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.body()).doesNotContain(azure.baseUrl()).doesNotContain(AZURE_KEY);
        assertNoCalls(azure);
        assertNoCalls(openai);
        assertThat(ledger.rows()).isEmpty();
    }

    @Test
    void aModelNoNamedUpstreamServesGoesToTheDefaultUpstreamAsBefore() throws Exception {
        openai.stubFor(post(urlPathEqualTo(CHAT_PATH)).willReturn(okJson(completion("gpt-3.5-turbo-0125"))));

        HttpResponse<String> r = Http.postJson(proxy.uri("/"), chat("gpt-3.5-turbo", ""));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("openai");
        LoggedRequest sent = onlyRequest(openai);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("gpt-3.5-turbo");
        assertNoCalls(azure);
        assertThat(onlyLedgerRow().upstream()).isEqualTo("openai");
    }
}
