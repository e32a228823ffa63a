package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.openai.models.embeddings.EmbeddingModel;
import com.openai.models.images.ImageGenerateParams;
import com.openai.models.images.ImageModel;
import com.openai.models.images.ImagesResponse;
import com.openai.models.models.Model;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.RecordingFilter;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The official openai-java client, with only its base URL changed, works through the proxy's
 * {@code /v1} routes: typed results, streams, and typed exceptions for upstream errors. Every test also
 * checks what reached the upstream: the server's key instead of the SDK's placeholder, none of the
 * SDK's {@code x-stainless-*} headers, and the SDK's body byte for byte.
 */
class OpenAiSdkTest {
    private static final String SERVER_KEY = "sk-server-key-123456";
    private static final String CLIENT_KEY = "sk-client-placeholder";
    private static final Duration WAIT = Duration.ofSeconds(10);

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    final RecordingFilter received = new RecordingFilter();
    TomcatProxy proxy;
    OpenAIClient client;

    @BeforeEach
    void start() {
        proxy = TomcatProxy.servlet(
                ProxyConfig.builder()
                        .apiKey(SERVER_KEY)
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                        .build(),
                received);
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey(CLIENT_KEY)
                .maxRetries(0)
                .build();
    }

    @AfterEach
    void stop() {
        client.close();
        proxy.close();
    }

    @Test
    void chatCompletion() throws Exception {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(json(200, OpenAiFixtures.CHAT_COMPLETION).withHeader("x-request-id", "req_abc123")));

        ChatCompletion completion = client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addSystemMessage("You are terse.")
                        .addUserMessage("Say hello")
                        .temperature(0.2)
                        .build());

        assertThat(completion.id()).isEqualTo("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
        assertThat(completion.choices().get(0).message().content()).contains("Hello! How can I help you today?");
        assertThat(completion.usage().orElseThrow().totalTokens()).isEqualTo(18);
        assertUpstreamGotExactlyWhatTheSdkSent("POST", "/v1/chat/completions");
    }

    @Test
    void streamingChatCompletion() throws Exception {
        StringBuilder sse = new StringBuilder();
        OpenAiFixtures.chatStreamEvents("Hel", "lo, ", "wor", "ld! ", "你好🌍").forEach(sse::append);
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "text/event-stream; charset=utf-8")
                        .withBody(sse.toString())
                        .withChunkedDribbleDelay(8, 200)));

        String text;
        try (StreamResponse<ChatCompletionChunk> stream = client.chat()
                .completions()
                .createStreaming(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addUserMessage("Say hello world")
                        .build())) {
            text = stream.stream()
                    .flatMap(chunk -> chunk.choices().stream())
                    .flatMap(choice -> choice.delta().content().stream())
                    .collect(Collectors.joining());
        }

        assertThat(text).isEqualTo("Hello, world! 你好🌍");
        RecordingFilter.Received sent = assertUpstreamGotExactlyWhatTheSdkSent("POST", "/v1/chat/completions");
        assertThat(new String(sent.bodyBytes(), java.nio.charset.StandardCharsets.UTF_8))
                .contains("\"stream\":true");
    }

    @Test
    void embeddings() throws Exception {
        upstream.stubFor(post("/v1/embeddings").willReturn(json(200, OpenAiFixtures.EMBEDDING)));

        CreateEmbeddingResponse response = client.embeddings()
                .create(EmbeddingCreateParams.builder()
                        .model(EmbeddingModel.TEXT_EMBEDDING_3_SMALL)
                        .input("The food was delicious")
                        .encodingFormat(EmbeddingCreateParams.EncodingFormat.FLOAT)
                        .build());

        assertThat(response.data().get(0).embedding())
                .containsExactly(0.0023064255f, -0.009327292f, 0.015797347f, -0.0077780345f);
        assertThat(response.usage().totalTokens()).isEqualTo(5);
        assertUpstreamGotExactlyWhatTheSdkSent("POST", "/v1/embeddings");
    }

    @Test
    void imageGeneration() throws Exception {
        upstream.stubFor(post("/v1/images/generations").willReturn(json(200, OpenAiFixtures.IMAGES)));

        ImagesResponse response = client.images()
                .generate(ImageGenerateParams.builder()
                        .model(ImageModel.DALL_E_3)
                        .prompt("A cute baby sea otter")
                        .size(ImageGenerateParams.Size._1024X1024)
                        .n(1)
                        .build());

        assertThat(response.data().orElseThrow().get(0).url())
                .hasValueSatisfying(
                        url -> assertThat(url).startsWith("https://oaidalleapiprodscus.blob.core.windows.net/"));
        assertThat(response.data().orElseThrow().get(0).revisedPrompt()).isPresent();
        assertUpstreamGotExactlyWhatTheSdkSent("POST", "/v1/images/generations");
    }

    @Test
    void listAndRetrieveModels() throws Exception {
        upstream.stubFor(get("/v1/models").willReturn(json(200, OpenAiFixtures.MODELS)));
        upstream.stubFor(get("/v1/models/gpt-4o-mini").willReturn(json(200, OpenAiFixtures.MODEL)));

        List<String> ids = client.models().list().data().stream().map(Model::id).toList();
        assertThat(ids).containsExactly("gpt-4o-mini", "text-embedding-3-small", "dall-e-3");
        assertUpstreamGotExactlyWhatTheSdkSent("GET", "/v1/models");

        Model model = client.models().retrieve("gpt-4o-mini");
        assertThat(model.id()).isEqualTo("gpt-4o-mini");
        assertThat(model.ownedBy()).isEqualTo("system");
        assertUpstreamGotExactlyWhatTheSdkSent("GET", "/v1/models/gpt-4o-mini");
    }

    @Test
    void upstreamRateLimitSurfacesAsRateLimitException() throws Exception {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(json(429, OpenAiFixtures.RATE_LIMITED)
                        .withHeader("retry-after", "20")
                        .withHeader("x-ratelimit-limit-requests", "3")
                        .withHeader("x-ratelimit-remaining-requests", "0")
                        .withHeader("x-request-id", "req_429")));

        RateLimitException e = catchThrowableOfType(
                RateLimitException.class,
                () -> client.chat()
                        .completions()
                        .create(ChatCompletionCreateParams.builder()
                                .model(ChatModel.GPT_4O_MINI)
                                .addUserMessage("again")
                                .build()));

        assertThat(e).isNotNull();
        assertThat(e.statusCode()).isEqualTo(429);
        assertThat(e.headers().values("retry-after")).containsExactly("20");
        assertThat(e.headers().values("x-ratelimit-remaining-requests")).containsExactly("0");
        assertThat(e.headers().values("x-request-id")).containsExactly("req_429");
        assertThat(e.code()).contains("rate_limit_exceeded");
        assertThat(e.type()).contains("requests");
        assertUpstreamGotExactlyWhatTheSdkSent("POST", "/v1/chat/completions");
    }

    @Test
    void upstreamUnauthorizedSurfacesAsUnauthorizedExceptionWithoutTheKey() throws Exception {
        upstream.stubFor(post("/v1/chat/completions").willReturn(json(401, OpenAiFixtures.unauthorized(SERVER_KEY))));

        UnauthorizedException e = catchThrowableOfType(
                UnauthorizedException.class,
                () -> client.chat()
                        .completions()
                        .create(ChatCompletionCreateParams.builder()
                                .model(ChatModel.GPT_4O_MINI)
                                .addUserMessage("hi")
                                .build()));

        assertThat(e).isNotNull();
        assertThat(e.statusCode()).isEqualTo(401);
        assertThat(e.code()).contains("invalid_api_key");
        String seen = e.getMessage() + " " + e.body();
        assertThat(seen).contains("The upstream API refused the proxy's API key");
        // The upstream's message, which echoes "sk-serve********3456", is not relayed at all.
        assertThat(seen).doesNotContain("sk-serve").doesNotContain("3456").doesNotContain(SERVER_KEY);
        assertUpstreamGotExactlyWhatTheSdkSent("POST", "/v1/chat/completions");
    }

    /**
     * Compares the request the proxy received from the SDK with the one WireMock received: same method
     * and path, the SDK's body byte for byte, the server key instead of the SDK's, no SDK telemetry
     * headers. Returns what the SDK sent.
     */
    private RecordingFilter.Received assertUpstreamGotExactlyWhatTheSdkSent(String method, String path)
            throws Exception {
        RecordingFilter.Received sent = received.take(WAIT);
        assertThat(sent.method()).isEqualTo(method);
        assertThat(sent.uri()).isEqualTo(path);
        // The SDK did send its key and telemetry headers, so their absence upstream means something.
        assertThat(sent.header("Authorization")).containsExactly("Bearer " + CLIENT_KEY);
        assertThat(sent.headers().keySet())
                .anyMatch(n -> n.toLowerCase(java.util.Locale.ROOT).startsWith("x-stainless-"));

        List<LoggedRequest> logged = upstream.getAllServeEvents().stream()
                .map(e -> e.getRequest())
                .filter(r ->
                        r.getMethod().getName().equals(method) && r.getUrl().equals(path))
                .toList();
        assertThat(logged).hasSize(1);
        LoggedRequest got = logged.get(0);
        assertThat(got.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(got.getAllHeaderKeys())
                .noneMatch(n -> n.toLowerCase(java.util.Locale.ROOT).startsWith("x-stainless-"));
        assertThat(got.getAllHeaderKeys()).noneMatch(n -> n.equalsIgnoreCase("x-openai-key"));
        byte[] body = sent.bodyBytes();
        assertThat(got.getBody()).isEqualTo(body);
        if (body.length > 0) {
            assertThat(got.getHeader("Content-Type")).startsWith("application/json");
        }
        upstream.resetRequests();
        return sent;
    }

    private static com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder json(int status, String body) {
        return aResponse()
                .withStatus(status)
                .withHeader("Content-Type", "application/json")
                .withBody(body);
    }
}
