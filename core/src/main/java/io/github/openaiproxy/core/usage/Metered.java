package io.github.openaiproxy.core.usage;

/**
 * What the proxy learned about one upstream answer while relaying it (see {@link UsageTap}).
 *
 * @param usage the upstream's numbers, or the proxy's estimate
 * @param estimated whether {@code usage} is an estimate (the client went away, or the upstream gave none)
 * @param answeringModel the {@code model} the answer names; {@code null} when none
 * @param upstreamRequestId the upstream's {@code x-request-id}; {@code null} when none
 * @param status the answer's status
 * @param streamed whether the answer was an event stream
 * @param outcome how the relay ended
 * @param firstEventNanos {@link System#nanoTime()} of the first event relayed; {@code -1} when none
 * @param endNanos {@link System#nanoTime()} when the relay ended
 * @param serviceTier the {@code service_tier} the answer names (the tier that served it, which OpenAI prices
 *     differently: {@code priority}, {@code flex}); {@code null} when none
 * @param pending whether the answer is a background response still {@code queued} or {@code in_progress}: its
 *     usage comes later, in an answer the proxy does not meter
 */
public record Metered(
        TokenUsage usage,
        boolean estimated,
        String answeringModel,
        String upstreamRequestId,
        int status,
        boolean streamed,
        UsageRecord.Outcome outcome,
        long firstEventNanos,
        long endNanos,
        String serviceTier,
        boolean pending) {
    /** An answer without a service tier, not pending. */
    public Metered(
            TokenUsage usage,
            boolean estimated,
            String answeringModel,
            String upstreamRequestId,
            int status,
            boolean streamed,
            UsageRecord.Outcome outcome,
            long firstEventNanos,
            long endNanos) {
        this(
                usage,
                estimated,
                answeringModel,
                upstreamRequestId,
                status,
                streamed,
                outcome,
                firstEventNanos,
                endNanos,
                null,
                false);
    }
}
