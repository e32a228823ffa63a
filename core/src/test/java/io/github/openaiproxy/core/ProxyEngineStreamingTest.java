package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamConfig.ClientKind;
import io.github.openaiproxy.testsupport.RawUpstream;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Server-Sent Events from the upstream reach the client event by event. */
@ParameterizedClass(name = "{0} client")
@EnumSource(
        value = ClientKind.class,
        names = {"JETTY", "JDK"})
class ProxyEngineStreamingTest {
    /** Every case runs on both upstream clients. */
    @Parameter
    ClientKind client;

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final List<String> EVENTS = List.of(
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"content\":\"H\u00e9llo \u4f60\u597d\"}}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n");

    private ProxyEngine engine;

    @AfterEach
    void close() {
        engine.close();
    }

    private static void upstreamStreams() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withStatus(200)
                                .withHeader("Content-Type", "text/event-stream; charset=utf-8")
                                .withHeader("x-request-id", "req_stream")
                                .withBody(String.join("", EVENTS))
                                .withChunkedDribbleDelay(7, 300)));
    }

    @Test
    void simpleRouteStreamsEventByEvent() {
        upstreamStreams();
        engine = ProxyEngine.create(config(upstream.baseUrl(), client).build());

        Answer a = send(
                engine,
                EngineFixture.post("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true}"));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.streaming()).isTrue();
        assertThat(a.header("Content-Type")).isEqualTo("text/event-stream; charset=utf-8");
        assertThat(a.header("Cache-Control")).isEqualTo("no-cache");
        assertThat(a.header("X-Accel-Buffering")).isEqualTo("no");
        assertThat(a.header("x-request-id")).isEqualTo("req_stream");
        assertThat(a.headers().firstValue("Content-Length")).isEmpty();
        assertThat(a.items()).isEqualTo(EVENTS);
        assertThat(upstream.server().findAll(anyRequestedFor(anyUrl())).get(0).getHeader("Accept"))
                .isEqualTo("text/event-stream");
    }

    @Test
    void passThroughRouteStreamsEventByEvent() {
        upstreamStreams();
        engine = ProxyEngine.create(config(upstream.baseUrl(), client).build());

        Answer a = send(
                engine,
                EngineFixture.post(
                                "/v1/chat/completions",
                                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                                        + "\"stream\":true}")
                        .header("Accept", "application/json")); // the Node SDK's Accept, even for streams

        assertThat(a.streaming()).isTrue();
        assertThat(a.items()).isEqualTo(EVENTS);
    }

    @Test
    void jsonAnswerIsNotMarkedStreaming() {
        upstream.server()
                .stubFor(post("/v1/chat/completions")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"id\":\"x\"}")
                                .withChunkedDribbleDelay(3, 100)));
        engine = ProxyEngine.create(config(upstream.baseUrl(), client).build());

        Answer a = send(engine, EngineFixture.post("/", EngineFixture.CHAT));

        assertThat(a.streaming()).isFalse();
        assertThat(a.headers().firstValue("X-Accel-Buffering")).isEmpty();
        assertThat(a.text()).isEqualTo("{\"id\":\"x\"}");
    }

    @Test
    void upstreamBreakingOffMidStreamEndsWithOneErrorEventAndNoDone() throws Exception {
        try (RawUpstream raw = RawUpstream.start()) {
            engine = ProxyEngine.create(config(raw.baseUrl(), client).build());
            CompletableFuture<ProxyResponse> pending =
                    engine.handle(EngineFixture.post("/v1/chat/completions", "{\"stream\":true}")
                            .build());
            try (RawUpstream.Connection c = raw.accept()) {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.writeChunk(EVENTS.get(0) + "data: {\"id\":\"chatcmpl-1\",\"choi");
            } // closed without the last chunk

            Answer a = Answer.of(pending.get(30, TimeUnit.SECONDS));

            assertThat(a.streaming()).isTrue();
            assertThat(a.items()).hasSize(2);
            assertThat(a.items().get(0)).isEqualTo(EVENTS.get(0));
            assertThat(a.items().get(1)).startsWith("data: {\"error\":{").endsWith("}}\n\n");
            assertThat(a.items().get(1)).as("the partial event is dropped").doesNotContain("chatcmpl");
            assertThat(a.text()).doesNotContain("[DONE]");
        }
    }
}
