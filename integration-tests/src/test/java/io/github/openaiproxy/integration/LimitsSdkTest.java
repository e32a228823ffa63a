package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.RateLimitException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The official openai-java client against a proxy key's rate limits and budgets over real HTTP: a rate limit
 * raises {@link RateLimitException} with {@code rate_limit_exceeded}; an exhausted budget raises it with {@code
 * insufficient_quota} and is not retried, whatever the client's {@code maxRetries}.
 */
class LimitsSdkTest {
    private static final String SERVER_KEY = "sk-server-key-123456";

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final ProxyKeys.NewKey key = ProxyKeys.generate();
    private final AtomicInteger proxied = new AtomicInteger();
    private final List<OpenAIClient> clients = new java.util.ArrayList<>();
    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        clients.forEach(OpenAIClient::close);
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void theFourthCallOverThreePerMinuteRaisesRateLimitException() {
        start(new Policy.Quotas(3L, null, null, null, null, null, null, null, null));

        OpenAIClient client = client(0);
        for (int i = 0; i < 3; i++) {
            client.chat().completions().create(params());
        }
        RateLimitException e = catchThrowableOfType(
                RateLimitException.class, () -> client.chat().completions().create(params()));

        assertThat(e.statusCode()).isEqualTo(429);
        assertThat(e.code()).contains("rate_limit_exceeded");
        assertThat(e.headers().values("x-ratelimit-limit-requests")).containsExactly("3");
        assertThat(e.headers().values("x-ratelimit-remaining-requests")).containsExactly("0");
        assertThat(e.headers().values("retry-after"))
                .singleElement()
                .satisfies(v -> assertThat(Integer.parseInt(v)).isBetween(1, 60));
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).hasSize(3);
    }

    @Test
    void anExhaustedBudgetIsInsufficientQuotaAndTheSdkDoesNotRetry() {
        start(new Policy.Quotas(null, null, null, null, null, 10L, null, null, null));

        OpenAIClient client = client(3);
        RateLimitException e = catchThrowableOfType(
                RateLimitException.class, () -> client.chat().completions().create(params()));

        assertThat(e.statusCode()).isEqualTo(429);
        assertThat(e.code()).contains("insufficient_quota");
        assertThat(e.type()).contains("insufficient_quota");
        assertThat(proxied.get())
                .as("requests that reached the proxy, despite maxRetries(3)")
                .isEqualTo(1);
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    private void start(Policy.Quotas quotas) {
        Policy limited = new Policy(
                "limited",
                List.of(),
                List.of(),
                null,
                null,
                Policy.OverCap.CLAMP,
                List.of(),
                List.of(),
                List.of(),
                quotas);
        ProxyConfig config = ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .access(AccessConfig.DEFAULTS
                        .withAnonymous(AccessConfig.Anonymous.DENY)
                        .withPolicies(Map.of("limited", limited)))
                .build();
        InMemoryProxyKeyStore keys = InMemoryProxyKeyStore.of(new ProxyKey(
                "k1", key.displayPrefix(), key.hash(), "ci", "team", "limited", Instant.EPOCH, null, null, null));
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.CHAT_COMPLETION)));
        proxy = TomcatProxy.servlet(ProxyEngine.builder(config)
                .proxyKeys(keys)
                .step(RequestStep.Position.AFTER_RESPONSE_HEADERS, (ctx, next) -> {
                    proxied.incrementAndGet();
                    return next.proceed(ctx);
                })
                .build());
    }

    private OpenAIClient client(int maxRetries) {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey(key.secret())
                .maxRetries(maxRetries)
                .build();
        clients.add(client);
        return client;
    }

    private static ChatCompletionCreateParams params() {
        return ChatCompletionCreateParams.builder()
                .model(ChatModel.GPT_4O_MINI)
                .addUserMessage("Say hello")
                .build();
    }
}
