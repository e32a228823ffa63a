package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.Test;

/** A named upstream with a context fallback reads its 400s to judge them; one that breaks off is judged too. */
class ProxyEngineContextFallbackTest {
    /** Answers 400 with a body that breaks off before its first byte. */
    private static final class BrokenBadRequests implements UpstreamClient {
        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            Flow.Publisher<List<ByteBuffer>> broken = s -> {
                s.onSubscribe(new Flow.Subscription() {
                    @Override
                    public void request(long n) {}

                    @Override
                    public void cancel() {}
                });
                s.onError(new IOException("connection reset"));
            };
            return CompletableFuture.completedFuture(new UpstreamResponse(
                    400, new HeaderMap().set("Content-Type", "application/json").build(), broken));
        }

        @Override
        public UpstreamClient withTimeouts(Duration connect, Duration response) {
            return this;
        }

        @Override
        public void close() {}
    }

    @Test
    void aBadRequestWhoseBodyBreaksOffIsABadGatewayNotAnInternalError() {
        try (ProxyEngine engine = ProxyEngine.create(
                ProxySettings.from(Map.of(
                                "upstreams.u.kind", "openai",
                                "upstreams.u.base-url", "http://127.0.0.1:9",
                                "upstreams.u.keys", "sk-context-0123456789abcdefghij",
                                "upstreams.u.models", "gpt-*",
                                "upstreams.u.context-fallback", "u:gpt-4.1"))
                        .toConfig(),
                new BrokenBadRequests())) {
            Answer a = EngineFixture.send(
                    engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[]}"));

            assertThat(a.status()).as(a.text()).isEqualTo(502);
        }
    }
}
