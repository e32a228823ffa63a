package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.Json;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * Gives an answer back the model name the client asked for, when an alias renamed it on the way: the
 * {@code model} field of a successful, non-streamed JSON answer of known length (the relay has such a body in
 * memory already), and of each {@code data:} event of a stream, event by event as they pass (nothing is held
 * back). Bodies too long to hold keep the upstream's name; see the README. Only aliased requests pay for this.
 */
final class ModelEcho {
    /** The longest answer rewritten; longer ones (relayed as they come) keep the upstream's name. */
    private static final int MAX = 256 * 1024;

    private ModelEcho() {}

    static CompletableFuture<ProxyResponse> restore(ProxyResponse r, String clientModel) {
        return restore(r, clientModel, "model");
    }

    /**
     * As {@link #restore(ProxyResponse, String)}, the non-streamed answer's {@code field} set instead: a model
     * retrieve's answer is the model object, named by its {@code id}.
     */
    static CompletableFuture<ProxyResponse> restore(ProxyResponse r, String clientModel, String field) {
        if (r.streaming() && r.status() >= 200 && r.status() < 300) {
            return CompletableFuture.completedFuture(
                    new ProxyResponse(r.status(), r.headers(), new RenamedEvents(r.body(), clientModel), true));
        }
        if (r.streaming() || r.status() < 200 || r.status() >= 300 || !isJson(r)) {
            return CompletableFuture.completedFuture(r);
        }
        long length = r.headers().firstValueAsLong("content-length").orElse(-1);
        if (length < 0 || length > MAX) {
            return CompletableFuture.completedFuture(r);
        }
        return BodyCollector.collectTruncated(r.body(), MAX).thenApply(bytes -> {
            byte[] out = bytes;
            try {
                JsonNode tree = Json.parse(bytes);
                if (tree instanceof ObjectNode o && o.has(field) && o.get(field).isTextual()) {
                    o.put(field, clientModel);
                    out = Json.bytes(o);
                }
            } catch (java.io.IOException | RuntimeException e) {
                // Not JSON after all: relayed as it came.
            }
            Map<String, List<String>> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            h.putAll(r.headers().map());
            h.put("Content-Length", List.of(Integer.toString(out.length)));
            return ProxyResponse.of(r.status(), java.net.http.HttpHeaders.of(h, (n, v) -> true), out);
        });
    }

    private static boolean isJson(ProxyResponse r) {
        return r.headers()
                .firstValue("content-type")
                .map(t -> t.toLowerCase(Locale.ROOT).contains("json"))
                .orElse(false);
    }

    /**
     * The stream with each event's {@code model} set to the client's. The relay hands over whole events, one
     * per buffer; an event that is not a single {@code data:} line of a JSON object with a {@code model} goes
     * on unchanged (the proxy's own error events included).
     */
    private static final class RenamedEvents implements java.util.concurrent.Flow.Publisher<List<java.nio.ByteBuffer>> {
        private final java.util.concurrent.Flow.Publisher<List<java.nio.ByteBuffer>> events;
        private static final byte[] DATA = "data: ".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        private final String clientModel;

        RenamedEvents(java.util.concurrent.Flow.Publisher<List<java.nio.ByteBuffer>> events, String clientModel) {
            this.events = events;
            this.clientModel = clientModel;
        }

        @Override
        public void subscribe(java.util.concurrent.Flow.Subscriber<? super List<java.nio.ByteBuffer>> s) {
            events.subscribe(new java.util.concurrent.Flow.Subscriber<List<java.nio.ByteBuffer>>() {
                @Override
                public void onSubscribe(java.util.concurrent.Flow.Subscription subscription) {
                    s.onSubscribe(subscription);
                }

                @Override
                public void onNext(List<java.nio.ByteBuffer> item) {
                    List<java.nio.ByteBuffer> out = new java.util.ArrayList<>(item.size());
                    for (java.nio.ByteBuffer b : item) {
                        out.add(rename(b));
                    }
                    s.onNext(out);
                }

                @Override
                public void onError(Throwable throwable) {
                    s.onError(throwable);
                }

                @Override
                public void onComplete() {
                    s.onComplete();
                }
            });
        }

        private java.nio.ByteBuffer rename(java.nio.ByteBuffer event) {
            String text = java.nio.charset.StandardCharsets.UTF_8
                    .decode(event.duplicate())
                    .toString();
            // The line ends the framer hands over with the next event (a stream mixing CR and CRLF) stay in front.
            int lead = 0;
            while (lead < text.length() && (text.charAt(lead) == '\r' || text.charAt(lead) == '\n')) {
                lead++;
            }
            if (!text.startsWith("data: {", lead)) {
                return event;
            }
            String payload = text.substring(lead + "data: ".length()).stripTrailing();
            if (payload.indexOf('\n') >= 0 || payload.indexOf('\r') >= 0) {
                return event; // several lines: relayed as sent
            }
            try {
                if (Json.parse(payload.getBytes(java.nio.charset.StandardCharsets.UTF_8)) instanceof ObjectNode o
                        && o.has("model")
                        && o.get("model").isTextual()) {
                    o.put("model", clientModel);
                    byte[] json = Json.bytes(o);
                    java.nio.ByteBuffer out = java.nio.ByteBuffer.allocate(lead + json.length + 8);
                    for (int i = 0; i < lead; i++) {
                        out.put((byte) text.charAt(i));
                    }
                    out.put(DATA).put(json).put((byte) '\n').put((byte) '\n').flip();
                    return out;
                }
            } catch (java.io.IOException | RuntimeException e) {
                // Not JSON: relayed as sent.
            }
            return event;
        }
    }
}
