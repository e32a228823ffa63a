package io.github.openaiproxy.graphql;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.flow.Demand;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Turns a chat completion event stream (one SSE event per item, as the engine relays it) into
 * {@code ChatChunk} values as the events arrive: one per event that adds content, a refusal or tool calls, or ends the
 * reply.
 * One upstream event is requested at a time and only while the subscriber wants more, so a slow client
 * slows the upstream; events that carry nothing are skipped by asking for the next. An error event in
 * the stream, and a stream that ends before the first choice's {@code finish_reason} and without {@code [DONE]}, become
 * {@code onError}; cancelling cancels the upstream stream.
 */
final class ChatChunks implements Flow.Publisher<Map<String, Object>> {
    private final Flow.Publisher<List<ByteBuffer>> events;
    private final String messageId;

    /**
     * @param events the relayed event stream
     * @param messageId the id of the recorded reply in a session, or {@code null} to use the completion's
     */
    ChatChunks(Flow.Publisher<List<ByteBuffer>> events, String messageId) {
        this.events = events;
        this.messageId = messageId;
    }

    /** The stream carried an error event, or broke off. */
    static final class StreamFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        StreamFailure(String message) {
            super(message, null, false, false);
        }
    }

    @Override
    public void subscribe(Flow.Subscriber<? super Map<String, Object>> subscriber) {
        events.subscribe(new Transform(java.util.Objects.requireNonNull(subscriber, "subscriber")));
    }

    private final class Transform implements Flow.Subscriber<List<ByteBuffer>>, Flow.Subscription {
        private final Flow.Subscriber<? super Map<String, Object>> downstream;
        private final AtomicLong demand = new AtomicLong();
        private final AtomicBoolean upstreamRequested = new AtomicBoolean();
        private volatile Flow.Subscription upstream;
        private volatile boolean done;
        /** Whether the reply's finish_reason or [DONE] came: a stream that ends without either was cut short. */
        private volatile boolean finished;
        /** A high surrogate held back from the last piece, 0 for none; events arrive one at a time. */
        private char heldHalf;

        Transform(Flow.Subscriber<? super Map<String, Object>> downstream) {
            this.downstream = downstream;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            upstream = s;
            downstream.onSubscribe(this);
            requestIfWanted();
        }

        @Override
        public void onNext(List<ByteBuffer> event) {
            upstreamRequested.set(false);
            if (done) {
                return;
            }
            JsonNode chunk;
            try {
                chunk = parse(event);
            } catch (StreamFailure e) {
                done = true;
                upstream.cancel();
                downstream.onError(e);
                return;
            }
            if (chunk == null ? "[DONE]".equals(ServerSentEvents.data(event)) : finishes(chunk)) {
                finished = true;
            }
            Map<String, Object> value = chunk == null ? null : toChunk(chunk);
            if (value != null) {
                demand.decrementAndGet();
                downstream.onNext(value);
            }
            requestIfWanted();
        }

        @Override
        public void onError(Throwable t) {
            if (!done) {
                done = true;
                downstream.onError(new StreamFailure("The upstream stream failed: " + t.getMessage()));
            }
        }

        @Override
        public void onComplete() {
            if (!done) {
                done = true;
                if (finished) {
                    downstream.onComplete();
                } else {
                    downstream.onError(
                            new StreamFailure("The upstream ended the stream before the reply was finished"));
                }
            }
        }

        @Override
        public void request(long n) {
            if (Demand.refused(n, this, downstream)) {
                return;
            }
            Demand.addTo(demand, n);
            requestIfWanted();
        }

        @Override
        public void cancel() {
            done = true;
            upstream.cancel(); // set before the downstream had this subscription
        }

        private void requestIfWanted() {
            Flow.Subscription s = upstream;
            if (s != null && !done && demand.get() > 0 && upstreamRequested.compareAndSet(false, true)) {
                s.request(1);
            }
        }

        /**
         * The subscriber's piece of an event, {@code null} when it carries nothing. A high surrogate that ends a
         * piece waits for the next one, since an upstream may cut a pair between events and a client decoding each
         * piece on its own would get two halves it cannot read; one the reply never completes is dropped.
         */
        private Map<String, Object> toChunk(JsonNode chunk) {
            for (JsonNode choice : chunk.path("choices")) {
                if (choice.path("index").asInt(0) != 0) {
                    continue;
                }
                JsonNode content = choice.path("delta").path("content");
                JsonNode refusal = choice.path("delta").path("refusal");
                JsonNode finish = choice.path("finish_reason");
                String text = content.isTextual() ? content.textValue() : "";
                if (heldHalf != 0) {
                    text = heldHalf + text;
                    heldHalf = 0;
                }
                if (!text.isEmpty() && Character.isHighSurrogate(text.charAt(text.length() - 1))) {
                    heldHalf = text.charAt(text.length() - 1);
                    text = text.substring(0, text.length() - 1);
                }
                boolean hasContent = !text.isEmpty();
                boolean hasRefusal = refusal.isTextual() && !refusal.textValue().isEmpty();
                JsonNode toolCalls = choice.path("delta").path("tool_calls");
                boolean hasToolCalls = toolCalls.isArray() && !toolCalls.isEmpty();
                if (!hasContent && !hasRefusal && !hasToolCalls && !finish.isTextual()) {
                    return null;
                }
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("id", messageId != null ? messageId : chunk.path("id").asText(null));
                out.put("content", hasContent ? text : null);
                out.put("finishReason", finish.isTextual() ? finish.textValue() : null);
                out.put("model", chunk.path("model").asText(null));
                out.put("refusal", hasRefusal ? refusal.textValue() : null);
                out.put("toolCalls", hasToolCalls ? SubRequests.JSON.convertValue(toolCalls, Object.class) : null);
                return out;
            }
            return null;
        }
    }

    /** The JSON of an event's data, {@code null} for an event without content ({@code [DONE]}, comments). */
    private static JsonNode parse(List<ByteBuffer> event) {
        String data = ServerSentEvents.data(event);
        if (data == null || data.equals("[DONE]")) {
            return null;
        }
        JsonNode json;
        try {
            json = SubRequests.JSON.readTree(data);
        } catch (IOException e) {
            return null;
        }
        if (json != null && json.has("error")) {
            JsonNode error = json.get("error");
            String message =
                    error.path("message").isTextual() ? error.path("message").textValue() : error.toString();
            throw new StreamFailure(message);
        }
        return json;
    }

    /** Whether an event carries the first choice's {@code finish_reason}. */
    private static boolean finishes(JsonNode chunk) {
        for (JsonNode choice : chunk.path("choices")) {
            if (choice.path("index").asInt(0) == 0
                    && choice.path("finish_reason").isTextual()) {
                return true;
            }
        }
        return false;
    }
}
