package io.github.openaiproxy.core.session;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import io.github.openaiproxy.core.internal.Json;
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
 * Demand and cancellation pass straight through: nothing is buffered but the reply text, and that only
 * up to a bound: a longer reply is still relayed whole, and recorded as {@link ChatSessions#REPLY_NOT_RECORDED}.
 */
final class RecordingStream implements Flow.Publisher<List<ByteBuffer>> {
    private final Flow.Publisher<List<ByteBuffer>> events;
    private final Function<String, CompletableFuture<Void>> recorder;
    private final long maxReplyBytes;

    /**
     * @param events the relayed stream, one complete SSE event per item
     * @param maxReplyBytes the most UTF-8 bytes of reply text kept for recording
     * @param recorder records the reply text; the stream completes when its future does
     */
    RecordingStream(
            Flow.Publisher<List<ByteBuffer>> events,
            long maxReplyBytes,
            Function<String, CompletableFuture<Void>> recorder) {
        this.events = events;
        this.maxReplyBytes = maxReplyBytes;
        this.recorder = recorder;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        events.subscribe(new Tap(downstream));
    }

    private final class Tap extends ForwardingSubscriber<List<ByteBuffer>> {
        private StringBuilder reply = new StringBuilder();
        private long replyBytes;
        private volatile boolean cancelled;
        private boolean failed;

        Tap(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            super(downstream);
        }

        @Override
        public void cancel() {
            cancelled = true;
            super.cancel();
        }

        @Override
        public void onNext(List<ByteBuffer> event) {
            if (!failed) {
                read(event);
            }
            downstream.onNext(event);
        }

        @Override
        public void onComplete() {
            if (failed || cancelled) {
                downstream.onComplete();
                return;
            }
            String text = reply == null ? ChatSessions.REPLY_NOT_RECORDED : reply.toString();
            reply = null;
            recorder.apply(text).whenComplete((ok, error) -> downstream.onComplete());
        }

        /** Adds a delta to the reply; past the bound, the text is dropped (and a marker recorded). */
        private void keep(String delta) {
            replyBytes += NewMessage.utf8Length(delta);
            if (replyBytes > maxReplyBytes) {
                reply = null;
                return;
            }
            reply.append(delta);
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
                        if (content.isTextual() && reply != null) {
                            keep(content.textValue());
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // Not JSON (a comment or a foreign event): relayed, not recorded.
            }
        }
    }
}
