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
 * memory already). Streamed answers and bodies too long to hold keep the upstream's name; see the README.
 */
final class ModelEcho {
    /** The longest answer rewritten; longer ones (relayed as they come) keep the upstream's name. */
    private static final int MAX = 256 * 1024;

    private ModelEcho() {}

    static CompletableFuture<ProxyResponse> restore(ProxyResponse r, String clientModel) {
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
                if (tree instanceof ObjectNode o
                        && o.has("model")
                        && o.get("model").isTextual()) {
                    o.put("model", clientModel);
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
}
