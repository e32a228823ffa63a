package io.github.openaiproxy.core.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import io.github.openaiproxy.core.internal.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.function.Function;

/**
 * Relays a chat completion event stream unchanged, item by item as it arrives, while it adds up the
 * first choice's deltas (its content, a refusal, tool calls); when the upstream completes cleanly after the choice's
 * {@code finish_reason} or {@code [DONE]} it records the reply and only then completes the stream. A stream that
 * carried an error event, failed, was cancelled or ended before its finish records nothing. Demand and cancellation
 * pass straight through: nothing is buffered but the reply, and that only up to a bound: a longer reply is still
 * relayed whole, and recorded as {@link ChatSessions#REPLY_NOT_RECORDED}.
 */
final class RecordingStream implements Flow.Publisher<List<ByteBuffer>> {
    private static final System.Logger LOG = System.getLogger(RecordingStream.class.getName());

    private final Flow.Publisher<List<ByteBuffer>> events;
    private final Function<ChatSessions.Reply, CompletableFuture<Void>> recorder;
    private final long maxReplyBytes;

    /**
     * @param events the relayed stream, one complete SSE event per item
     * @param maxReplyBytes the most UTF-8 bytes of reply text (content, refusal, tool calls) kept for recording
     * @param recorder records the reply; the stream completes when its future does
     */
    RecordingStream(
            Flow.Publisher<List<ByteBuffer>> events,
            long maxReplyBytes,
            Function<ChatSessions.Reply, CompletableFuture<Void>> recorder) {
        this.events = events;
        this.maxReplyBytes = maxReplyBytes;
        this.recorder = recorder;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        events.subscribe(new Tap(downstream));
    }

    private final class Tap extends ForwardingSubscriber<List<ByteBuffer>> {
        /** The reply so far; {@code null} once it is over the bound. */
        private Assembled reply = new Assembled();

        private long replyBytes;
        private volatile boolean cancelled;
        private boolean failed;
        /** The index of the tool call the last delta added to: one without an index continues it. */
        private int lastIndex;

        /** Whether the choice's finish_reason or [DONE] came: a stream that ends without either was cut short. */
        private boolean finished;

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
            if (!finished) {
                LOG.log(System.Logger.Level.WARNING, "a session reply's stream ended before its finish; not recorded");
                downstream.onComplete();
                return;
            }
            ChatSessions.Reply text = reply == null ? null : reply.reply();
            reply = null;
            if (text == null || text.size() > maxReplyBytes) {
                // Counted as a plain answer's is: the text plus the message's JSON, with its escapes.
                text = new ChatSessions.Reply(ChatSessions.REPLY_NOT_RECORDED, null);
            }
            recorder.apply(text).whenComplete((ok, error) -> downstream.onComplete());
        }

        /** Counts a piece of the reply; past the bound, the reply is dropped (and a marker recorded). */
        private boolean keep(String piece) {
            replyBytes += NewMessage.utf8Length(piece);
            if (replyBytes > maxReplyBytes) {
                reply = null;
            }
            return reply != null;
        }

        private void read(List<ByteBuffer> event) {
            String data = ServerSentEvents.data(event);
            if (data == null) {
                return;
            }
            if (data.equals("[DONE]")) {
                finished = true;
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
                        if (choice.path("finish_reason").isTextual()) {
                            finished = true;
                        }
                        read(choice.path("delta"));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // Not JSON (a comment or a foreign event): relayed, not recorded.
            }
        }

        private void read(JsonNode delta) {
            JsonNode content = delta.path("content");
            if (content.isTextual() && reply != null && keep(content.textValue())) {
                reply.content.append(content.textValue());
            }
            JsonNode refusal = delta.path("refusal");
            if (refusal.isTextual() && reply != null && keep(refusal.textValue())) {
                reply.refusal.append(refusal.textValue());
            }
            for (JsonNode call : delta.path("tool_calls")) {
                if (reply == null) {
                    return;
                }
                // A call with an id and a name of its own is a new call whatever its index says: Gemini's
                // OpenAI-compatible stream sends parallel calls whole without an index (or each at 0); OpenAI sends
                // the id and name once a call.
                int index = call.has("index") ? call.path("index").asInt(0) : lastIndex;
                ToolCall assembled = reply.toolCalls.get(index);
                String id = call.path("id").asText("");
                if (assembled != null
                        && !id.isEmpty()
                        && !id.equals(assembled.fields.getOrDefault("id", id))
                        && !call.path("function").path("name").asText("").isEmpty()) {
                    index = reply.toolCalls.lastKey() + 1;
                    assembled = null;
                }
                lastIndex = index;
                if (assembled == null) {
                    // A call costs its JSON even when empty: an upstream opening calls without a byte in them
                    // must not grow the reply past the bound either.
                    if (!keep(EMPTY_CALL)) {
                        return;
                    }
                    assembled = new ToolCall();
                    reply.toolCalls.put(index, assembled);
                }
                add(assembled, call);
            }
            JsonNode function = delta.path("function_call");
            if (function.isObject() && reply != null) {
                if (reply.functionCall == null) {
                    reply.functionCall = new ToolCall();
                }
                add(reply.functionCall, Json.object().set("function", function));
            }
        }

        /** Adds a tool call delta: its id, type and name come once, its arguments in pieces. */
        private void add(ToolCall assembled, JsonNode call) {
            for (String field : List.of("id", "type")) {
                // Never emptied: DashScope repeats the id as "" on each piece after the first.
                if (call.path(field).isTextual()
                        && !call.path(field).textValue().isEmpty()
                        && keep(call.path(field).textValue())) {
                    assembled.fields.put(field, call.path(field).textValue());
                }
            }
            call.fields().forEachRemaining(field -> {
                // What else a call carries (Gemini's extra_content) goes back with it, as a plain answer's does.
                if (!OWN_FIELDS.contains(field.getKey())
                        && keep(field.getValue().toString())) {
                    assembled.extra.put(field.getKey(), field.getValue());
                }
            });
            JsonNode function = call.path("function");
            if (function.path("name").isTextual() && keep(function.path("name").textValue())) {
                assembled.name.append(function.path("name").textValue());
            }
            if (function.path("arguments").isTextual()
                    && keep(function.path("arguments").textValue())) {
                assembled.arguments.append(function.path("arguments").textValue());
            }
        }
    }

    /** The fields of a tool call delta assembled as such; any other is kept as the upstream sent it. */
    private static final Set<String> OWN_FIELDS = Set.of("index", "id", "type", "function");

    /** What an empty tool call takes in the recorded message. */
    private static final String EMPTY_CALL = "{\"function\":{\"name\":\"\",\"arguments\":\"\"}},";

    /** A tool call (or the older function call) as its deltas have built it so far. */
    private static final class ToolCall {
        final Map<String, String> fields = new LinkedHashMap<>();
        final Map<String, JsonNode> extra = new LinkedHashMap<>();
        final StringBuilder name = new StringBuilder();
        final StringBuilder arguments = new StringBuilder();

        ObjectNode function() {
            ObjectNode f = Json.object();
            f.put("name", name.toString());
            f.put("arguments", arguments.toString());
            return f;
        }
    }

    /** The first choice's reply as its deltas have built it so far. */
    private static final class Assembled {
        final StringBuilder content = new StringBuilder();
        final StringBuilder refusal = new StringBuilder();
        final TreeMap<Integer, ToolCall> toolCalls = new TreeMap<>();
        ToolCall functionCall;

        /** The reply: its text, and the message as the upstream would have answered it when it is more than text. */
        ChatSessions.Reply reply() {
            String text = content.toString();
            if (refusal.isEmpty() && toolCalls.isEmpty() && functionCall == null) {
                return new ChatSessions.Reply(text, null);
            }
            ObjectNode message = Json.object();
            message.put("role", "assistant");
            if (text.isEmpty()) {
                message.putNull("content");
            } else {
                message.put("content", text);
            }
            if (!refusal.isEmpty()) {
                message.put("refusal", refusal.toString());
            }
            if (!toolCalls.isEmpty()) {
                ArrayNode calls = message.putArray("tool_calls");
                for (ToolCall call : toolCalls.values()) {
                    ObjectNode c = calls.addObject();
                    call.fields.forEach(c::put);
                    call.extra.forEach(c::set);
                    c.set("function", call.function());
                }
            }
            if (functionCall != null) {
                message.set("function_call", functionCall.function());
            }
            return new ChatSessions.Reply(text, message.toString());
        }
    }
}
