package io.github.openaiproxy.core.observe;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageNumbers;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/** Finds the {@code usage} object in an upstream JSON body or SSE event, cheaply. */
final class UsageExtractor {
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

    private static boolean hasUsageObject(byte[] a, int len) {
        return UsageNumbers.usageObject(a, 0, len) >= 0;
    }

    private static Optional<Usage> read(JsonNode usage) {
        if (!usage.isObject()) {
            return Optional.empty();
        }
        TokenUsage t = UsageNumbers.read(usage, 0);
        JsonNode total = usage.get("total_tokens");
        return Optional.of(new Usage(
                t.inputTokens(),
                t.outputTokens(),
                total != null && total.isIntegralNumber() ? total.asLong() : t.totalTokens()));
    }
}
