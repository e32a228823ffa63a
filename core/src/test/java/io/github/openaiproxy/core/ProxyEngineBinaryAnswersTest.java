package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.config;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Answers that are not JSON (speech audio, a file's bytes) are relayed from their first bytes, not held back until
 * the proxy's JSON read-ahead limit or their end: a speech stream plays while it is made.
 */
class ProxyEngineBinaryAnswersTest {
    /** An upstream whose one answer has this content type and a body the test writes. */
    private static final class HandDriven implements UpstreamClient {
        final TestPublisher body = new TestPublisher();
        final String contentType;

        HandDriven(String contentType) {
            this.contentType = contentType;
        }

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest r) {
            return CompletableFuture.completedFuture(new UpstreamResponse(
                    200, new HeaderMap().set("Content-Type", contentType).build(), body));
        }

        @Override
        public void close() {}
    }

    private static CompletableFuture<ProxyResponse> speech(HandDriven upstream) {
        List<PassThroughRoute> routes = new ArrayList<>(PassThroughRoute.DEFAULTS);
        routes.add(PassThroughRoute.parse("POST /v1/audio/speech"));
        ProxyEngine engine = ProxyEngine.builder(config(URI.create("http://127.0.0.1:9"))
                        .passThroughRoutes(routes)
                        .build())
                .upstreamClient(upstream)
                .build();
        byte[] json = "{\"model\":\"gpt-4o-mini-tts\",\"input\":\"Hello\",\"voice\":\"alloy\"}"
                .getBytes(StandardCharsets.UTF_8);
        return engine.handle(ProxyRequest.builder("POST", "/v1/audio/speech")
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(json.length))
                .body(json)
                .build());
    }

    @Test
    void speechAudioIsRelayedFromItsFirstBytes() throws Exception {
        HandDriven upstream = new HandDriven("audio/mpeg");
        CompletableFuture<ProxyResponse> answer = speech(upstream);

        upstream.body.emit(new byte[] {(byte) 0xff, (byte) 0xf3, 1, 2}); // the first frame; the rest is still made

        ProxyResponse r = answer.get(10, TimeUnit.SECONDS);
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        r.body().subscribe(client);
        assertThat(client.items().stream().mapToInt(b -> b.length).sum()).isEqualTo(4);
        upstream.body.emit(new byte[] {3, 4});
        upstream.body.complete();
        assertThat(client.items().stream().mapToInt(b -> b.length).sum()).isEqualTo(6);
    }

    @Test
    void aSmallJsonAnswerIsStillReadWholeFirst() {
        HandDriven upstream = new HandDriven("application/json");
        CompletableFuture<ProxyResponse> answer = speech(upstream);

        upstream.body.emit("{\"a\":");
        assertThat(answer)
                .as("held until its end: an exact length, a clean 502")
                .isNotDone();
        upstream.body.emit("1}");
        upstream.body.complete();
        assertThat(answer).succeedsWithin(java.time.Duration.ofSeconds(10));
        assertThat(answer.join().headers().firstValue("Content-Length")).contains("7");
    }
}
