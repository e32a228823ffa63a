package io.github.openaiproxy.core.session;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.relay.ServerSentEvents;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.function.Function;

/**
 * Relays a chat completion event stream unchanged, item by item as it arrives, while it adds up the
 * first choice's content deltas; when the upstream completes cleanly it records the reply and only then
 * completes the stream. A stream that carried an error event, failed or was cancelled records nothing.
 * Demand and cancellation pass straight through: nothing is buffered.
 */
final class RecordingStream implements Flow.Publisher<List<ByteBuffer>> {
    private final Flow.Publisher<List<ByteBuffer>> events;
    private final Function<String, CompletableFuture<Void>> recorder;

    /**
     * @param events the relayed stream, one complete SSE event per item
     * @param recorder records the reply text; the stream completes when its future does
     */
    RecordingStream(Flow.Publisher<List<ByteBuffer>> events, Function<String, CompletableFuture<Void>> recorder) {
        this.events = events;
        this.recorder = recorder;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        events.subscribe(new Tap(downstream));
    }

    private final class Tap implements Flow.Subscriber<List<ByteBuffer>> {
        private final Flow.Subscriber<? super List<ByteBuffer>> downstream;
        private final StringBuilder reply = new StringBuilder();
        private volatile boolean cancelled;
        private boolean failed;

        Tap(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            this.downstream = downstream;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            downstream.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                    s.request(n);
                }

                @Override
                public void cancel() {
                    cancelled = true;
                    s.cancel();
                }
            });
        }

        @Override
        public void onNext(List<ByteBuffer> event) {
            if (!failed) {
                read(event);
            }
            downstream.onNext(event);
        }

        @Override
        public void onError(Throwable t) {
            downstream.onError(t);
        }

        @Override
        public void onComplete() {
            if (failed || cancelled) {
                downstream.onComplete();
                return;
            }
            recorder.apply(reply.toString()).whenComplete((ok, error) -> downstream.onComplete());
        }

        private void read(List<ByteBuffer> event) {
            String data = ServerSentEvents.data(event);
            if (data == null || data.equals("[DONE]")) {
                return;
            }
            try {
                JsonNode chunk = Json.parse(data.getBytes(StandardCharsets.UTF_8));
                if (chunk.has("error")) {
                    failed = true;
                    return;
                }
                for (JsonNode choice : chunk.path("choices")) {
                    if (choice.path("index").asInt(0) == 0) {
                        JsonNode content = choice.path("delta").path("content");
                        if (content.isTextual()) {
                            reply.append(content.textValue());
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // Not JSON (a comment or a foreign event): relayed, not recorded.
            }
        }
    }
}
