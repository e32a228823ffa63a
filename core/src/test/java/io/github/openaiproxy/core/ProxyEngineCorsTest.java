package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.post;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** CORS as a browser sees it through the engine. */
class ProxyEngineCorsTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String FRONT_END = "https://chat.example.com";

    private ProxyEngine engine;

    @BeforeEach
    void start() {
        upstream.server()
                .stubFor(any(anyUrl()).willReturn(okJson(CHAT_COMPLETION).withHeader("x-request-id", "r1")));
        engine = ProxyEngine.create(config(upstream.baseUrl())
                .cors(CorsConfig.builder().origins(List.of(FRONT_END)).build())
                .build());
    }

    @AfterEach
    void close() {
        engine.close();
    }

    @Test
    void preflightFromAnAllowedOriginIsAnsweredWithoutCallingTheUpstream() {
        Answer a = send(
                engine, preflight(FRONT_END, "POST", "content-type, authorization, x-stainless-lang, x-stainless-os"));

        assertThat(a.status()).isEqualTo(204);
        assertThat(a.header("Access-Control-Allow-Origin")).isEqualTo(FRONT_END);
        assertThat(a.header("Access-Control-Allow-Methods")).isEqualTo("POST");
        assertThat(a.header("Access-Control-Allow-Headers"))
                .isEqualTo("content-type, authorization, x-stainless-lang, x-stainless-os");
        assertThat(a.header("Access-Control-Max-Age")).isEqualTo("86400");
        assertThat(a.header("Vary")).contains("Origin");
        assertThat(a.body().bytes()).isEmpty();
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void preflightFromAnotherOriginIsRefusedWithoutCorsHeaders() {
        Answer a = send(engine, preflight("https://evil.example", "POST", "content-type"));

        assertThat(a.proxyError(403).get("message").asText()).contains("origin not allowed");
        assertThat(a.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    @Test
    void preflightAskingForAnotherHeaderIsRefused() {
        Answer a = send(engine, preflight(FRONT_END, "POST", "x-custom-token"));

        assertThat(a.proxyError(403).get("message").asText()).contains("x-custom-token");
        assertThat(a.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    @Test
    void allowedOriginGetsCorsHeadersOnTheRelayedAnswer() {
        Answer a = send(engine, post("/", CHAT).header("Origin", FRONT_END));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.header("Access-Control-Allow-Origin")).isEqualTo(FRONT_END);
        assertThat(a.header("Access-Control-Expose-Headers")).contains("x-request-id");
    }

    @Test
    void allowedOriginGetsCorsHeadersOnErrorsToo() {
        Answer a = send(engine, post("/", "[]").header("Origin", FRONT_END));

        a.proxyError(400);
        assertThat(a.header("Access-Control-Allow-Origin")).isEqualTo(FRONT_END);
    }

    @Test
    void otherOriginIsRefusedWithoutCallingTheUpstream() {
        Answer a = send(engine, post("/", CHAT).header("Origin", "https://evil.example"));

        assertThat(a.proxyError(403).get("error").asText()).isEqualTo("Forbidden");
        assertThat(a.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        assertThat(upstream.server().getAllServeEvents()).isEmpty();
    }

    @Test
    void sameOriginAndOriginlessRequestsPassWithoutCorsHeaders() {
        Answer sameOrigin = send(
                engine,
                post("/", CHAT).header("Origin", "http://localhost:8080").requestOrigin("http://localhost:8080"));
        Answer noOrigin = send(engine, post("/", CHAT));

        assertThat(sameOrigin.status()).isEqualTo(200);
        assertThat(noOrigin.status()).isEqualTo(200);
        assertThat(sameOrigin.headers().firstValue("Access-Control-Allow-Origin"))
                .isEmpty();
        assertThat(noOrigin.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    private static ProxyRequest.Builder preflight(String origin, String method, String headers) {
        return ProxyRequest.builder("OPTIONS", "/")
                .header("Origin", origin)
                .header("Access-Control-Request-Method", method)
                .header("Access-Control-Request-Headers", headers);
    }
}
