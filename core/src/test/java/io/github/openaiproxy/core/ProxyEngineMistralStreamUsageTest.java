package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Mistral's API refuses a chat request with {@code stream_options} (422 {@code extra_forbidden}), so with a ledger on
 * the proxy must not ask it for a stream's usage, as it asks other upstreams: as the default upstream and as a named
 * one. Mistral sends the usage in its last chunk unasked, so the ledger still has the upstream's numbers.
 */
class ProxyEngineMistralStreamUsageTest {
    /** Mistral's stream as it sends it: the usage in the last chunk, beside its choices. */
    private static final String STREAM =
            "data: {\"id\":\"9f1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
                    + "\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                    + "\"content\":\"\"},\"finish_reason\":null}]}\n\n"
                    + "data: {\"id\":\"9f1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
                    + "\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bonjour\"},"
                    + "\"finish_reason\":null}]}\n\n"
                    + "data: {\"id\":\"9f1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
                    + "\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":10,"
                    + "\"completion_tokens\":3}}\n\n"
                    + "data: [DONE]\n\n";

    /** Answers as Mistral does: 422 to {@code stream_options}, else its stream. */
    private static final class Mistral implements UpstreamClient {
        final Queue<UpstreamRequest> sent = new ConcurrentLinkedQueue<>();

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            sent.add(request);
            if (parse(request.body()).has("stream_options")) {
                byte[] refusal = ("{\"object\":\"error\",\"message\":{\"detail\":[{\"type\":\"extra_forbidden\","
                                + "\"loc\":[\"body\",\"stream_options\"],\"msg\":\"Extra inputs are not permitted\"}]},"
                                + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}")
                        .getBytes(StandardCharsets.UTF_8);
                return CompletableFuture.completedFuture(new UpstreamResponse(
                        422,
                        new HeaderMap().set("Content-Type", "application/json").build(),
                        Bodies.responseOf(refusal)));
            }
            return CompletableFuture.completedFuture(new UpstreamResponse(
                    200,
                    new HeaderMap().set("Content-Type", "text/event-stream").build(),
                    Bodies.responseOf(STREAM.getBytes(StandardCharsets.UTF_8))));
        }

        @Override
        public UpstreamClient withTimeouts(Duration connect, Duration response) {
            return this;
        }

        @Override
        public void close() {}
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aStreamToMistralIsNotAskedForUsageAndItsLastChunkIsRecorded(boolean named) {
        Map<String, String> s = new HashMap<>();
        URI base = URI.create("https://api.mistral.ai/v1");
        if (named) {
            s.put("upstreams.mistral.kind", "compatible");
            s.put("upstreams.mistral.base-url", base.toString());
            s.put("upstreams.mistral.keys", "mistral-key-0123456789abcdef");
            s.put("upstreams.mistral.models", "mistral-*");
            base = URI.create("http://127.0.0.1:9"); // the default upstream, never called
        }
        Mistral mistral = new Mistral();
        Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();
        byte[] body =
                "{\"model\":\"mistral-small-latest\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
                        .getBytes(StandardCharsets.UTF_8);
        try (ProxyEngine engine = ProxyEngine.builder(
                        ProxySettings.from(s).applyTo(config(base)).build())
                .upstreamClient(mistral)
                .usageLedger(ledger::add)
                .build()) {
            Answer a = send(
                    engine,
                    ProxyRequest.builder("POST", "/v1/chat/completions")
                            .header("Content-Type", "application/json")
                            .header("Content-Length", Integer.toString(body.length))
                            .remoteAddress("10.0.0.1")
                            .body(body));

            assertThat(a.status()).as(a.text()).isEqualTo(200);
            assertThat(a.text()).isEqualTo(STREAM);
            assertThat(mistral.sent).singleElement().satisfies(r -> {
                assertThat(r.uri().getHost()).isEqualTo("api.mistral.ai");
                JsonNode sent = parse(r.body());
                assertThat(sent.has("stream_options")).as("asked for usage").isFalse();
            });
            assertThat(ledger).singleElement().satisfies(r -> {
                assertThat(r.estimated()).isFalse();
                assertThat(r.usage().inputTokens()).isEqualTo(7);
                assertThat(r.usage().outputTokens()).isEqualTo(3);
            });
        }
    }

    @ParameterizedTest
    @CsvSource({
        "https://api.mistral.ai/v1, true",
        "https://codestral.mistral.ai/v1, true",
        "https://API.MISTRAL.AI./v1, true",
        "https://api.openai.com/v1, false",
        "https://mistral.ai.example.com/v1, false",
        "https://notmistral.ai/v1, false",
        "http://127.0.0.1:8000/v1, false"
    })
    void onlyMistralsApiIsTakenToRefuseStreamOptions(String base, boolean refuses) {
        assertThat(UpstreamConfig.refusesStreamOptions(URI.create(base))).isEqualTo(refuses);
    }

    private static JsonNode parse(byte[] body) {
        try {
            return Json.parse(body);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
