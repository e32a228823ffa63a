package io.github.openaiproxy.core.observe;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.flow.ServerSentEvents;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.usage.JsonSkim;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageNumbers;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/** Reads the {@code usage} of an upstream JSON answer (as a {@link JsonSkim} saw it) or of an SSE event, cheaply. */
final class UsageExtractor {
    private UsageExtractor() {}

    /** Reports a whole JSON answer's model and usage, as {@code skim} read them, when it had a usage object. */
    static void report(JsonSkim skim, ProxyObserver.Observation observation) {
        TokenUsage t = skim.usage();
        if (t == null) {
            return;
        }
        String model = skim.model();
        if (model != null) {
            observation.responseModel(model);
        }
        observation.usage(new Usage(
                t.inputTokens(), t.outputTokens(), skim.reportedTotalTokens().orElse(t.totalTokens())));
    }

    /**
     * Reports one event's model ({@code model}, or {@code response.model}) and usage to {@code observation}: one
     * parse for both, and nothing at all without a usage object.
     */
    private static void report(byte[] body, ProxyObserver.Observation observation) {
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

    /** Reports one SSE event's usage and model, when it carries a usage object. */
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
