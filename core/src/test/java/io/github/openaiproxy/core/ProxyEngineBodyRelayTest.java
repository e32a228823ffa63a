package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamConfig.ClientKind;
import io.github.openaiproxy.testsupport.RawUpstream;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** How non-streamed bodies are relayed: small ones whole, large ones streamed, broken ones as a clean 502. */
@ParameterizedClass(name = "{0} client")
@EnumSource(
        value = ClientKind.class,
        names = {"JETTY", "JDK"})
class ProxyEngineBodyRelayTest {
    /** Every case runs on both upstream clients. */
    @Parameter
    ClientKind client;

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    @Test
    void aSmallChunkedBodyIsAnsweredWholeWithItsExactLength() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(EngineFixture.CHAT_COMPLETION)
                                .withChunkedDribbleDelay(5, 200)));
        try (ProxyEngine engine =
                ProxyEngine.create(config(upstream.baseUrl(), client).build())) {
            Answer a = send(engine, EngineFixture.post("/v1/chat/completions", EngineFixture.CHAT));
            assertThat(a.text()).isEqualTo(EngineFixture.CHAT_COMPLETION);
            assertThat(a.header("Content-Length")).isEqualTo(Integer.toString(EngineFixture.CHAT_COMPLETION.length()));
        }
    }

    @Test
    void aLargeBodyIsStreamedOnComplete() {
        char[] big = new char[3 * 1024 * 1024];
        Arrays.fill(big, 'x');
        String body = "{\"data\":[{\"b64_json\":\"" + new String(big) + "\"}]}";
        upstream.server()
                .stubFor(post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(body)));
        try (ProxyEngine engine =
                ProxyEngine.create(config(upstream.baseUrl(), client).build())) {
            Answer a = send(engine, EngineFixture.post("/v1/images/generations", "{\"prompt\":\"x\"}"));
            assertThat(a.status()).isEqualTo(200);
            assertThat(a.text()).isEqualTo(body);
            // Streamed on, not read whole: a length is only relayed when the upstream sent one.
            assertThat(a.header("Content-Length")).isIn(null, Integer.toString(body.length()));
        }
    }

    @Test
    void anUpstreamThatBreaksOffASmallBodyGivesA502() throws Exception {
        try (RawUpstream raw = RawUpstream.start();
                ProxyEngine engine =
                        ProxyEngine.create(config(raw.baseUrl(), client).build())) {
            CompletableFuture<ProxyResponse> answer =
                    engine.handle(EngineFixture.post("/v1/chat/completions", EngineFixture.CHAT)
                            .build());
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                        + "{\"id\":\"chatcmpl-1\",\"choi");
            } // closed with 480 bytes missing
            Answer a = Answer.of(answer.get(30, TimeUnit.SECONDS));
            assertThat(a.status()).isEqualTo(502);
            assertThat(a.json().path("error").path("code").asText()).isEqualTo("upstream_unreachable");
        }
    }

    @Test
    void aNonJsonUpstreamErrorOnV1IsWrappedInOpenAisShape() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(502)
                                .withHeader("Content-Type", "text/html")
                                .withBody("<html><body>Bad gateway</body></html>")));
        try (ProxyEngine engine =
                ProxyEngine.create(config(upstream.baseUrl(), client).build())) {
            Answer a = send(engine, EngineFixture.post("/v1/chat/completions", EngineFixture.CHAT));
            assertThat(a.status()).isEqualTo(502);
            assertThat(a.header("Content-Type")).isEqualTo("application/json");
            assertThat(a.json().path("error").path("message").asText())
                    .isEqualTo("OpenAI API returned 502: <html><body>Bad gateway</body></html>");
        }
    }

    @Test
    void anEmptyUpstreamErrorSaysItsStatusAlone() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse().withStatus(503).withHeader("Retry-After", "5")));
        try (ProxyEngine engine =
                ProxyEngine.create(config(upstream.baseUrl(), client).build())) {
            Answer a = send(engine, EngineFixture.post("/", EngineFixture.CHAT));
            assertThat(a.status()).isEqualTo(503);
            assertThat(a.json().path("message").asText()).isEqualTo("OpenAI API returned 503");
            Answer v1 = send(engine, EngineFixture.post("/v1/chat/completions", EngineFixture.CHAT));
            assertThat(v1.status()).isEqualTo(503);
            assertThat(v1.json().path("error").path("message").asText()).isEqualTo("OpenAI API returned 503");
        }
    }
}
