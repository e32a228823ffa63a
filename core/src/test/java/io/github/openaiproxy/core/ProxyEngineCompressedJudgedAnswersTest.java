package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.IntFunction;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * The answers a named upstream's attempts read to judge (a 429 that is about the request's size, a 401 for a
 * missing scope, a 400 for a context too long) are judged on their decoded bytes when a server gzipped them
 * although the proxy asked for none.
 */
class ProxyEngineCompressedJudgedAnswersTest {
    static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[]}";

    /** Answers the n-th call (from 0) with {@code answers.apply(n)}; counts the calls. */
    private static final class Scripted implements UpstreamClient {
        final List<UpstreamRequest> calls = new CopyOnWriteArrayList<>();
        final IntFunction<UpstreamResponse> answers;

        Scripted(IntFunction<UpstreamResponse> answers) {
            this.answers = answers;
        }

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            calls.add(request);
            return CompletableFuture.completedFuture(answers.apply(calls.size() - 1));
        }

        @Override
        public UpstreamClient withTimeouts(Duration connect, Duration response) {
            return this;
        }

        @Override
        public void close() {}
    }

    static String key(UpstreamRequest call) {
        return call.headers().firstValue("Authorization").orElse("");
    }

    static UpstreamResponse gzipped(int status, String json) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(b)) {
            gz.write(json.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        byte[] bytes = b.toByteArray();
        return new UpstreamResponse(
                status,
                new HeaderMap()
                        .set("Content-Type", "application/json")
                        .set("Content-Encoding", "gzip")
                        .set("Content-Length", Integer.toString(bytes.length))
                        .build(),
                Bodies.responseOf(bytes));
    }

    static UpstreamResponse ok() {
        byte[] bytes = "{\"model\":\"gpt-4.1\",\"choices\":[]}".getBytes(StandardCharsets.UTF_8);
        return new UpstreamResponse(
                200, new HeaderMap().set("Content-Type", "application/json").build(), Bodies.responseOf(bytes));
    }

    static ProxyEngine engine(Scripted upstream, Map<String, String> extra) {
        Map<String, String> settings = new java.util.HashMap<>(Map.of(
                "upstreams.u.kind", "openai",
                "upstreams.u.base-url", "http://127.0.0.1:9",
                "upstreams.u.keys", "sk-one-0123456789abcdefghij,sk-two-0123456789abcdefghij",
                "upstreams.u.models", "gpt-*"));
        settings.putAll(extra);
        return ProxyEngine.create(ProxySettings.from(settings).toConfig(), upstream);
    }

    @Test
    void aGzippedContextLengthExceededTakesTheLargerModel() {
        Scripted upstream = new Scripted(n -> n == 0
                ? gzipped(
                        400,
                        "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens.\","
                                + "\"type\":\"invalid_request_error\",\"code\":\"context_length_exceeded\"}}")
                : ok());
        try (ProxyEngine engine = engine(upstream, Map.of("upstreams.u.context-fallback", "u:gpt-4.1"))) {
            Answer a = EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

            assertThat(a.status()).as(a.text()).isEqualTo(200);
            assertThat(upstream.calls).hasSize(2);
        }
    }

    @Test
    void aGzippedRequestTooLargeIsRelayedWithoutRestingEveryKey() {
        Scripted upstream = new Scripted(n -> n == 0
                ? gzipped(
                        429,
                        "{\"error\":{\"message\":\"Request too large for gpt-4o in organization org-1 on tokens per"
                                + " min (TPM): Limit 30000, Requested 45000.\",\"type\":\"tokens\","
                                + "\"code\":\"rate_limit_exceeded\"}}")
                : ok());
        try (ProxyEngine engine = engine(upstream, Map.of())) {
            Answer huge = EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

            assertThat(huge.status()).as(huge.text()).isEqualTo(429);
            assertThat(huge.text()).contains("Request too large");
            assertThat(upstream.calls)
                    .as("no other key tried for a request too large for any")
                    .hasSize(1);
        }
    }

    @Test
    void aGzippedMissingScopeIsRelayedWithoutTakingTheKeyOut() {
        Scripted upstream = new Scripted(n -> n == 0
                ? gzipped(
                        401,
                        "{\"error\":{\"message\":\"You have insufficient permissions for this operation. Missing"
                                + " scopes: api.responses.write.\",\"type\":\"invalid_request_error\","
                                + "\"code\":\"missing_scope\"}}")
                : ok());
        try (ProxyEngine engine = engine(upstream, Map.of())) {
            Answer refused = EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

            assertThat(refused.status()).as(refused.text()).isEqualTo(401);
            for (int i = 0; i < 2; i++) {
                assertThat(EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", CHAT))
                                .status())
                        .isEqualTo(200);
            }
            // The key that was refused a scope is still in turn: the first key answers one of the next two.
            String first = key(upstream.calls.get(0));
            assertThat(upstream.calls.subList(1, 3)).extracting(c -> key(c)).contains(first);
        }
    }
}
