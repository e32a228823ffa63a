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
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

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

    /**
     * A key with a character an HTTP header cannot carry (here a zero-width space, a copy-paste accident)
     * made the JDK client fail with an exception that quotes the whole header, key included, and that
     * exception was logged. Such a client key is refused before any upstream call, and nothing logs it.
     */
    @ParameterizedTest
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void aClientKeyThatCannotBeSentInAHeaderIsRefusedAndNeverLogged(UpstreamConfig.ClientKind client) {
        String key = "sk-client-\u200b" + "0123456789abcdef";
        engine = ProxyEngine.create(
                config(upstream.baseUrl(), client).allowClientKey(true).build());
        List<LogRecord> logged = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger proxyLogs = Logger.getLogger("io.github.openaiproxy");
        proxyLogs.addHandler(handler);
        try {
            Answer v1 = send(
                    engine, EngineFixture.post("/v1/chat/completions", CHAT).header("x-openai-key", key));
            Answer simple = send(engine, EngineFixture.post("/", CHAT).header("x-openai-key", key));

            assertThat(v1.proxyError(400).at("/error/code").asText()).isEqualTo("invalid_client_key");
            assertThat(simple.proxyError(400).get("message").asText()).contains("x-openai-key");
            assertThat(v1.text() + simple.text()).doesNotContain("0123456789abcdef");
        } finally {
            proxyLogs.removeHandler(handler);
        }
        for (LogRecord r : logged) {
            String text = r.getMessage() + " " + java.util.Arrays.toString(r.getParameters()) + " " + r.getThrown();
            assertThat(text).doesNotContain("0123456789abcdef");
        }
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void aServerKeyThatCannotBeSentInAHeaderIsRefusedAtStartWithoutQuotingIt() {
        assertThatThrownBy(() -> ProxyConfig.builder()
                        .apiKey("sk-proj-\u200b" + "0123456789abcdef")
                        .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("API key")
                .hasMessageNotContaining("0123456789abcdef");
        engine = ProxyEngine.create(config(upstream.baseUrl()).build());
    }

    private static int upstreamCalls() {
        return upstream.server().getAllServeEvents().size();
    }
}
