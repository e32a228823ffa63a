package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Reads a {@code usage} object of any of OpenAI's APIs into a {@link TokenUsage}, and finds one in raw bytes: the
 * one reading of usage that the usage tap and the metrics observer share.
 */
@io.github.openaiproxy.core.internal.Internal
public final class UsageNumbers {
    private static final byte[] USAGE = "\"usage\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private UsageNumbers() {}

    /**
     * The numbers of a {@code usage} object: chat and completions ({@code prompt_tokens},
     * {@code completion_tokens}, {@code prompt_tokens_details.cached_tokens},
     * {@code completion_tokens_details.reasoning_tokens}), the Responses API and images ({@code input_tokens},
     * {@code output_tokens}, {@code input_tokens_details.cached_tokens},
     * {@code output_tokens_details.reasoning_tokens}), embeddings ({@code prompt_tokens}). A missing, negative
     * or non-integral number reads as 0.
     */
    public static TokenUsage read(JsonNode usage, int images) {
        long in = first(usage, "prompt_tokens", "input_tokens");
        long out = first(usage, "completion_tokens", "output_tokens");
        long cached = Math.max(
                number(usage.path("prompt_tokens_details").path("cached_tokens")),
                number(usage.path("input_tokens_details").path("cached_tokens")));
        long reasoning = Math.max(
                number(usage.path("completion_tokens_details").path("reasoning_tokens")),
                number(usage.path("output_tokens_details").path("reasoning_tokens")));
        return new TokenUsage(in, Math.min(cached, in), out, Math.min(reasoning, out), images);
    }

    private static long first(JsonNode usage, String name, String other) {
        JsonNode n = usage.get(name);
        return n != null ? number(n) : number(usage.path(other));
    }

    private static long number(JsonNode n) {
        return n.isIntegralNumber() && n.canConvertToLong() ? Math.max(0, n.longValue()) : 0;
    }

    /**
     * Where the object following a {@code "usage":} in {@code a[from, to)} starts; -1 when there is none (chunks
     * carry {@code "usage":null} until the last). A cheap scan before any parse.
     */
    public static int usageObject(byte[] a, int from, int to) {
        outer:
        for (int i = from; i + USAGE.length <= to; i++) {
            for (int j = 0; j < USAGE.length; j++) {
                if (a[i + j] != USAGE[j]) {
                    continue outer;
                }
            }
            int k = i + USAGE.length;
            while (k < to && (a[k] == ' ' || a[k] == '\t' || a[k] == '\n' || a[k] == '\r' || a[k] == ':')) {
                k++;
            }
            if (k < to && a[k] == '{') {
                return k;
            }
        }
        return -1;
    }
}
