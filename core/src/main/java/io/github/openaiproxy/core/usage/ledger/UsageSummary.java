package io.github.openaiproxy.core.usage.ledger;

/**
 * Usage summed over one group of ledger rows.
 *
 * @param group the group's value: a key id, an owner, a model, a policy or a day ({@code 2026-01-31}, UTC);
 *     {@code null} for the rows without one (requests of no key, no owner or no model)
 * @param requests the rows summed
 * @param inputTokens input tokens, cached ones included
 * @param cachedInputTokens cached input tokens
 * @param outputTokens output tokens, reasoning ones included
 * @param reasoningTokens reasoning tokens
 * @param images images generated
 * @param costNanoUsd the cost in nano-dollars (10^-9 USD)
 * @param estimated how many of the rows hold estimates
 */
public record UsageSummary(
        String group,
        long requests,
        long inputTokens,
        long cachedInputTokens,
        long outputTokens,
        long reasoningTokens,
        long images,
        long costNanoUsd,
        long estimated) {
    /** Input plus output tokens. */
    public long totalTokens() {
        return inputTokens + outputTokens;
    }

    /** The cost in US dollars, as a decimal with nine places. */
    public java.math.BigDecimal costUsd() {
        return java.math.BigDecimal.valueOf(costNanoUsd, 9);
    }

    /** This row plus another of the same group. */
    UsageSummary plus(UsageSummary o) {
        return new UsageSummary(
                group,
                requests + o.requests,
                inputTokens + o.inputTokens,
                cachedInputTokens + o.cachedInputTokens,
                outputTokens + o.outputTokens,
                reasoningTokens + o.reasoningTokens,
                images + o.images,
                costNanoUsd + o.costNanoUsd,
                estimated + o.estimated);
    }
}
