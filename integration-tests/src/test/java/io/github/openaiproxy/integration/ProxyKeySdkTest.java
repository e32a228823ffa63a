package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.github.tomakehurst.wiremock.http.HttpHeader;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.PermissionDeniedException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testkit.ManualClock;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The official openai-java client with a proxy key as its {@code apiKey} and the proxy's {@code /v1} as its
 * base URL: chat and a stream pass; a wrong, expired or revoked key raises {@link UnauthorizedException}. The
 * proxy key never reaches the upstream, which sees only the server's key.
 */
class ProxyKeySdkTest {
    private static final String SERVER_KEY = "sk-server-key-123456";

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final ManualClock clock = new ManualClock();
    private final ProxyKeys.NewKey key = ProxyKeys.generate();
    private final InMemoryProxyKeyStore keys = new InMemoryProxyKeyStore();
    private final java.util.List<OpenAIClient> clients = new java.util.ArrayList<>();
    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        clients.forEach(OpenAIClient::close);
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void chatAndStreamWithAProxyKeyAsTheSdksApiKey() throws Exception {
        start(AccessConfig.Anonymous.DENY);
        keys.insert(key("k1", key, null));
        upstream.stubFor(post("/v1/chat/completions")
                .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.notContaining("\"stream\":true"))
                .willReturn(json(OpenAiFixtures.CHAT_COMPLETION)));

        {
            OpenAIClient client = client(key.secret());
            ChatCompletion completion = client.chat().completions().create(params());
            assertThat(completion.choices().get(0).message().content())
                    .hasValueSatisfying(t -> assertThat(t).startsWith("Hello!"));

            StringBuilder sse = new StringBuilder();
            OpenAiFixtures.chatStreamEvents("Hel", "lo").forEach(sse::append);
            upstream.stubFor(post("/v1/chat/completions")
                    .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.containing("\"stream\":true"))
                    .willReturn(aResponse()
                            .withStatus(200)
                            .withHeader("Content-Type", "text/event-stream")
                            .withBody(sse.toString())));
            try (StreamResponse<ChatCompletionChunk> stream =
                    client.chat().completions().createStreaming(params())) {
                String text = stream.stream()
                        .flatMap(c -> c.choices().stream())
                        .flatMap(c -> c.delta().content().stream())
                        .collect(Collectors.joining());
                assertThat(text).isEqualTo("Hello");
            }
        }
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).hasSize(2).allSatisfy(this::onlyTheServerKey);
    }

    @Test
    void aWrongKeyRaisesTheSdksUnauthorizedException() {
        start(AccessConfig.Anonymous.ALLOW); // refused whatever the anonymous mode
        keys.insert(key("k1", key, null));

        {
            OpenAIClient client = client(ProxyKeys.generate().secret());
            UnauthorizedException e = catchThrowableOfType(
                    UnauthorizedException.class,
                    () -> client.chat().completions().create(params()));
            assertThat(e.statusCode()).isEqualTo(401);
            assertThat(e.code()).contains("invalid_api_key");
            // The proxy's own id, for finding its log line: SDKs read it into the exception.
            assertThat(e.headers().values("x-request-id"))
                    .singleElement()
                    .asString()
                    .matches("req_proxy_[0-9a-f]{32}");
        }
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    @Test
    void aModelOutsideTheKeysPolicyRaisesPermissionDeniedAndTheCapIsClampedOnTheWay() {
        Policy mini = new Policy(
                "mini",
                List.of(),
                List.of("gpt-4o-mini"),
                50,
                null,
                Policy.OverCap.CLAMP,
                List.of(),
                List.of(),
                List.of(),
                Policy.Quotas.NONE);
        start(AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY).withPolicies(Map.of("mini", mini)));
        keys.insert(new ProxyKey(
                "k1", key.displayPrefix(), key.hash(), "ci", "team", "mini", clock.instant(), null, null, null));
        upstream.stubFor(post("/v1/chat/completions").willReturn(json(OpenAiFixtures.CHAT_COMPLETION)));

        OpenAIClient client = client(key.secret());
        PermissionDeniedException denied = catchThrowableOfType(
                PermissionDeniedException.class,
                () -> client.chat()
                        .completions()
                        .create(ChatCompletionCreateParams.builder()
                                .model(ChatModel.GPT_4O)
                                .addUserMessage("Say hello")
                                .build()));
        assertThat(denied.statusCode()).isEqualTo(403);
        assertThat(denied.code()).contains("model_not_allowed");
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();

        client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addUserMessage("Say hello")
                        .maxCompletionTokens(5000)
                        .build());
        assertThat(upstream.findAll(anyRequestedFor(anyUrl())))
                .singleElement()
                .satisfies(r -> assertThat(r.getBodyAsString()).contains("\"max_completion_tokens\":50"));
    }

    @Test
    void anExpiredKeyIsRefused() {
        start(AccessConfig.Anonymous.ALLOW);
        keys.insert(key("k1", key, clock.instant().plus(Duration.ofHours(1))));
        upstream.stubFor(post("/v1/chat/completions").willReturn(json(OpenAiFixtures.CHAT_COMPLETION)));

        {
            OpenAIClient client = client(key.secret());
            client.chat().completions().create(params());
            clock.advance(Duration.ofHours(1));
            catchThrowableOfType(
                    UnauthorizedException.class,
                    () -> client.chat().completions().create(params()));
        }
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).hasSize(1);
    }

    @Test
    void aKeyRevokedElsewhereIsRefusedOnceTheCacheExpires() {
        start(AccessConfig.Anonymous.ALLOW);
        keys.insert(key("k1", key, null));
        upstream.stubFor(post("/v1/chat/completions").willReturn(json(OpenAiFixtures.CHAT_COMPLETION)));

        {
            OpenAIClient client = client(key.secret());
            client.chat().completions().create(params());
            // Revoked in the store, as another instance's admin API would (a shared database).
            keys.update(keys.find("k1").orElseThrow().revoked(clock.instant()));
            clock.advance(Duration.ofSeconds(5));
            UnauthorizedException e = catchThrowableOfType(
                    UnauthorizedException.class,
                    () -> client.chat().completions().create(params()));
            assertThat(e).isNotNull();
        }
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).hasSize(1);
    }

    @Test
    void withAnonymousCallersDeniedTheSdksPlaceholderKeyIsRefused() {
        start(AccessConfig.Anonymous.DENY);

        {
            OpenAIClient client = client("sk-placeholder");
            assertThat(catchThrowableOfType(
                            UnauthorizedException.class,
                            () -> client.chat().completions().create(params())))
                    .isNotNull();
        }
    }

    private void onlyTheServerKey(LoggedRequest r) {
        assertThat(r.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        for (HttpHeader h : r.getHeaders().all()) {
            assertThat(h.values()).as(h.key()).noneMatch(v -> v.contains(key.secret()) || v.contains("opk-"));
        }
        assertThat(r.getBodyAsString()).doesNotContain(key.secret());
    }

    private void start(AccessConfig.Anonymous anonymous) {
        start(AccessConfig.DEFAULTS.withAnonymous(anonymous));
    }

    private void start(AccessConfig access) {
        ProxyConfig config = ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .access(access)
                .build();
        proxy = TomcatProxy.servlet(
                ProxyEngine.builder(config).proxyKeys(keys).clock(clock).build());
    }

    private OpenAIClient client(String apiKey) {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey(apiKey)
                .maxRetries(0)
                .build();
        clients.add(client);
        return client;
    }

    private ProxyKey key(String id, ProxyKeys.NewKey k, Instant expires) {
        return new ProxyKey(
                id, k.displayPrefix(), k.hash(), "ci", "team", "keys", clock.instant(), expires, null, null);
    }

    private static ChatCompletionCreateParams params() {
        return ChatCompletionCreateParams.builder()
                .model(ChatModel.GPT_4O_MINI)
                .addUserMessage("Say hello")
                .build();
    }

    private static com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder json(String body) {
        return aResponse()
                .withStatus(200)
                .withHeader("Content-Type", "application/json")
                .withBody(body);
    }
}
