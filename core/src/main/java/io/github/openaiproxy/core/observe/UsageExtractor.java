package io.github.openaiproxy.core.observe;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import io.github.openaiproxy.core.internal.Json;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/** Finds the {@code usage} object in an upstream JSON body or SSE event, cheaply. */
final class UsageExtractor {
    private static final byte[] USAGE = "\"usage\"".getBytes(StandardCharsets.US_ASCII);

    private UsageExtractor() {}

    /**
     * Reports a whole JSON body's model ({@code model}, or {@code response.model}) and usage to {@code observation}:
     * one parse for both, and nothing at all without a usage object.
     */
    static void report(byte[] body, ProxyObserver.Observation observation) {
        if (!hasUsageObject(body, body.length)) {
            return;
        }
        try {
            JsonNode root = Json.parse(body);
            Optional<Usage> usage =
                    read(root.path("usage")).or(() -> read(root.path("response").path("usage")));
            if (usage.isEmpty()) {
                return;
            }
            JsonNode model = root.path("model").isTextual()
                    ? root.path("model")
                    : root.path("response").path("model");
            if (model.isTextual()) {
                observation.responseModel(model.textValue());
            }
            observation.usage(usage.get());
        } catch (java.io.IOException | RuntimeException e) {
            // not JSON: nothing to report
        }
    }

    /** As {@link #report(byte[], ProxyObserver.Observation)} for one SSE event. */
    static void reportEvent(List<ByteBuffer> event, ProxyObserver.Observation observation) {
        byte[] raw = ServerSentEvents.bytes(event);
        if (!hasUsageObject(raw, raw.length)) {
            return;
        }
        String data = ServerSentEvents.data(raw);
        if (data != null) {
            report(data.getBytes(StandardCharsets.UTF_8), observation);
        }
    }

    /** Whether {@code "usage"} is followed by an object (chunks carry {@code "usage":null} until the last). */
    private static boolean hasUsageObject(byte[] a, int len) {
        outer:
        for (int i = 0; i + USAGE.length <= len; i++) {
            for (int j = 0; j < USAGE.length; j++) {
                if (a[i + j] != USAGE[j]) {
                    continue outer;
                }
            }
            int k = i + USAGE.length;
            while (k < len && (a[k] == ' ' || a[k] == ':' || a[k] == '\n' || a[k] == '\r' || a[k] == '\t')) {
                k++;
            }
            if (k < len && a[k] == '{') {
                return true;
            }
        }
        return false;
    }

    private static Optional<Usage> read(JsonNode usage) {
        if (!usage.isObject()) {
            return Optional.empty();
        }
        long in = usage.has("prompt_tokens")
                ? usage.path("prompt_tokens").asLong()
                : usage.path("input_tokens").asLong();
        long out = usage.has("completion_tokens")
                ? usage.path("completion_tokens").asLong()
                : usage.path("output_tokens").asLong();
        long total = usage.has("total_tokens") ? usage.path("total_tokens").asLong() : in + out;
        return Optional.of(new Usage(in, out, total));
    }
}
