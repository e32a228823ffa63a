package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.SERVER_KEY;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static io.github.openaiproxy.core.testing.Answer.parse;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.WireMockUpstream;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Which key an upstream call carries, and the answers when there is none. */
class ProxyEngineKeysTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private ProxyEngine engine;

    @BeforeEach
    void answerChat() {
        upstream.server().stubFor(post("/v1/chat/completions").willReturn(okJson(CHAT_COMPLETION)));
    }

    @AfterEach
    void close() {
        engine.close();
    }

    @Test
    void withoutAKeyTheSimpleRouteAnswersTheSeedConfigurationError() {
        engine = ProxyEngine.create(ProxyConfig.builder()
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build());

        Answer a = send(engine, EngineFixture.post("/", CHAT));

        assertThat(a.proxyError(500))
                .isEqualTo(
                        parse("{\"error\":\"Configuration Error\",\"message\":\"OpenAI API key is not configured\"}"));
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void withoutAKeyAV1RouteAnswersInOpenAiShape() {
        engine = ProxyEngine.create(ProxyConfig.builder()
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build());

        Answer a = send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

        assertThat(a.proxyError(500).get("error").get("code").asText()).isEqualTo("api_key_missing");
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void clientKeyIsRefusedWhenClientKeysAreDisabled() {
        engine = ProxyEngine.create(config(upstream.baseUrl()).build());

        Answer a = send(engine, EngineFixture.post("/", CHAT).header("x-openai-key", "sk-client-0002"));

        assertThat(a.proxyError(403).get("message").asText()).contains("x-openai-key");
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void clientKeyIsUsedWhenClientKeysAreEnabled() {
        engine = ProxyEngine.create(
                config(upstream.baseUrl()).allowClientKey(true).build());

        Answer a = send(engine, EngineFixture.post("/", CHAT).header("x-openai-key", "sk-client-0002"));

        assertThat(a.status()).isEqualTo(200);
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl())).get(0).getHeader("Authorization"))
                .isEqualTo("Bearer sk-client-0002");
    }

    @Test
    void clientKeyWorksWithoutAServerKey() {
        engine = ProxyEngine.create(ProxyConfig.builder()
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .allowClientKey(true)
                .build());

        Answer a = send(engine, EngineFixture.post("/", CHAT).header("x-openai-key", "sk-client-0002"));

        assertThat(a.status()).isEqualTo(200);
    }

    @Test
    void emptyClientKeyHeaderCountsAsAbsent() {
        engine = ProxyEngine.create(config(upstream.baseUrl()).build());

        Answer a = send(engine, EngineFixture.post("/", CHAT).header("x-openai-key", ""));

        assertThat(a.status()).isEqualTo(200);
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl())).get(0).getHeader("Authorization"))
                .isEqualTo("Bearer " + SERVER_KEY);
    }

    private static int upstreamCalls() {
        return upstream.server().getAllServeEvents().size();
    }
}
