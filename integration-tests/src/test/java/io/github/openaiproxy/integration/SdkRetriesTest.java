package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.InternalServerException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import jakarta.servlet.Filter;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What openai-java's retries make of the proxy's own errors: it retries 408, 409, 429 and every 5xx unless the answer
 * says {@code x-should-retry: false}, so an error that cannot change by waiting must say so.
 */
class SdkRetriesTest {
    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final AtomicInteger arrived = new AtomicInteger();
    private TomcatProxy proxy;
    private OpenAIClient client;

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    /**
     * A named upstream's only key rests after a 429 that said how long: while it rests the proxy answers 503
     * {@code upstream_unavailable} at once, and that answer must say when to come back, as the upstream's 429 did.
     * Without it the SDK retries after its own half second and second, meets the same 503, and gives up before the
     * key is usable again.
     */
    @Test
    void whileTheOnlyKeyRestsTheSdkWaitsAsLongAsItRests() {
        onceThenTheCompletion(aResponse()
                .withStatus(429)
                .withHeader("Content-Type", "application/json")
                .withHeader("retry-after", "3")
                .withBody(OpenAiFixtures.RATE_LIMITED));
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upstreams.pooled.kind", "openai",
                        "upstreams.pooled.base-url", upstream.baseUrl() + "/v1",
                        "upstreams.pooled.keys", "sk-pooled-key-0123456789",
                        "upstreams.pooled.models", "gpt-4o-mini*",
                        "upstreams.pooled.retries", "0"))
                .toConfig());
        OpenAIClient once = sdk(0);
        RateLimitException limited = catchThrowableOfType(RateLimitException.class, () -> chat(once));
        once.close();
        assertThat(limited).as("the upstream's 429, relayed").isNotNull();
        client = sdk(2);

        ChatCompletion answer = chat(client);

        assertThat(answer.id()).isEqualTo("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
        assertThat(upstream.getAllServeEvents()).hasSize(2);
    }

    /**
     * A named upstream's circuit opened on a 500: while it is open the proxy answers 503 {@code upstream_unavailable}
     * without a call, and that answer must say when the trial may go, as a resting key's does. Without it the SDK
     * retries after half a second and a second, is skipped each time, and gives up before the circuit half-opens.
     */
    @Test
    void whileTheCircuitIsOpenTheSdkWaitsForTheTrial() {
        onceThenTheCompletion(aResponse()
                .withStatus(500)
                .withHeader("Content-Type", "application/json")
                .withBody(OpenAiFixtures.SERVER_ERROR));
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upstreams.guarded.kind", "openai",
                        "upstreams.guarded.base-url", upstream.baseUrl() + "/v1",
                        "upstreams.guarded.keys", "sk-guarded-key-0123456789",
                        "upstreams.guarded.models", "gpt-4o-mini*",
                        "upstreams.guarded.retries", "0",
                        "upstreams.guarded.breaker-failures", "1",
                        "upstreams.guarded.breaker-open", "3s"))
                .toConfig());
        OpenAIClient once = sdk(0);
        InternalServerException failed = catchThrowableOfType(InternalServerException.class, () -> chat(once));
        once.close();
        assertThat(failed).as("the upstream's 500, relayed; the circuit opens").isNotNull();
        client = sdk(2);

        ChatCompletion answer = chat(client);

        assertThat(answer.id()).isEqualTo("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
        assertThat(upstream.getAllServeEvents()).hasSize(2);
    }

    /**
     * Every key of a named upstream is refused (401: the deployment holds wrong keys): each request takes one out,
     * and once all are out the proxy answers 503 at once. No retry can change that until an operator fixes the keys, so the answer says
     * {@code x-should-retry: false}, and names no key.
     */
    @Test
    void anUpstreamWhoseKeysWereAllRefusedIsNotRetried() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"Incorrect API key provided: sk-wron*********6789.\","
                                + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}")));
        Filter counting = (req, res, chain) -> {
            arrived.incrementAndGet();
            chain.doFilter(req, res);
        };
        proxy = TomcatProxy.servlet(
                ProxySettings.from(Map.of(
                                "upstreams.refused.kind", "openai",
                                "upstreams.refused.base-url", upstream.baseUrl() + "/v1",
                                "upstreams.refused.keys", "sk-wrong-key-a-0123456789, sk-wrong-key-b-0123456789",
                                "upstreams.refused.models", "gpt-4o-mini*"))
                        .toConfig(),
                counting);
        client = sdk(2);
        // Each request takes out the first key that refuses it (the next goes at once) and relays a second's 401:
        // one request cannot take out every key, in case the request is the reason.
        for (int i = 0; i < 2; i++) {
            UnauthorizedException refused = catchThrowableOfType(UnauthorizedException.class, () -> chat(client));
            assertThat(refused)
                    .as("request %d refused, relayed as the proxy's 401", i + 1)
                    .isNotNull();
        }
        assertThat(upstream.getAllServeEvents()).hasSize(3);
        arrived.set(0);

        InternalServerException e = catchThrowableOfType(InternalServerException.class, () -> chat(client));

        assertThat(e).isNotNull();
        assertThat(e.statusCode()).isEqualTo(503);
        assertThat(e.code()).contains("upstream_unavailable");
        assertThat(e.headers().values("x-should-retry")).containsExactly("false");
        assertThat(e.getMessage()).doesNotContain("sk-", "refused#");
        assertThat(arrived)
                .as("requests that reached the proxy, despite maxRetries(2)")
                .hasValue(1);
        assertThat(upstream.getAllServeEvents()).as("no key left to send").hasSize(3);
    }

    private OpenAIClient sdk(int maxRetries) {
        return OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(maxRetries)
                .build();
    }

    private static ChatCompletion chat(OpenAIClient c) {
        return c.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model(ChatModel.GPT_4O_MINI)
                        .addUserMessage("hi")
                        .build());
    }

    /** No key configured is a mistake of the deployment: three tries only triple the wait for the same 500. */
    @Test
    void aProxyWithoutAKeyIsNotRetried() {
        Filter counting = (req, res, chain) -> {
            arrived.incrementAndGet();
            chain.doFilter(req, res);
        };
        proxy = TomcatProxy.servlet(
                ProxyConfig.builder()
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                        .build(),
                counting);
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(2)
                .build();

        InternalServerException e = catchThrowableOfType(
                InternalServerException.class,
                () -> client.chat()
                        .completions()
                        .create(ChatCompletionCreateParams.builder()
                                .model(ChatModel.GPT_4O_MINI)
                                .addUserMessage("hi")
                                .build()));

        assertThat(e).isNotNull();
        assertThat(e.statusCode()).isEqualTo(500);
        assertThat(e.code()).contains("api_key_missing");
        assertThat(e.headers().values("x-should-retry")).containsExactly("false");
        assertThat(arrived)
                .as("requests that reached the proxy, despite maxRetries(2)")
                .hasValue(1);
        assertThat(upstream.getAllServeEvents()).isEmpty();
    }

    /** The upstream answers its first chat with {@code first}, every later one with a completion. */
    private void onceThenTheCompletion(ResponseDefinitionBuilder first) {
        upstream.stubFor(post("/v1/chat/completions")
                .inScenario("once")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(first)
                .willSetStateTo("answering"));
        upstream.stubFor(post("/v1/chat/completions")
                .inScenario("once")
                .whenScenarioStateIs("answering")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(OpenAiFixtures.CHAT_COMPLETION)));
    }
}
