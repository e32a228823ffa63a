package io.github.openaiproxy.core.usage;

/**
 * Token counts and images of one answer, normalized across the APIs' names ({@code prompt_tokens} or {@code
 * input_tokens}, and so on).
 *
 * @param inputTokens input (prompt) tokens, cached ones included
 * @param cachedInputTokens the input tokens served from the upstream's prompt cache
 * @param outputTokens output (completion) tokens, reasoning ones included
 * @param reasoningTokens the output tokens spent on reasoning
 * @param images images generated
 * @param audioInputTokens the input tokens that were audio ({@code prompt_tokens_details.audio_tokens}), part of
 *     {@code inputTokens}
 * @param audioOutputTokens the output tokens that were audio ({@code completion_tokens_details.audio_tokens}), part
 *     of {@code outputTokens}
 */
public record TokenUsage(
        long inputTokens,
        long cachedInputTokens,
        long outputTokens,
        long reasoningTokens,
        int images,
        long audioInputTokens,
        long audioOutputTokens) {
    /** Nothing used. */
    public static final TokenUsage NONE = new TokenUsage(0, 0, 0, 0, 0);

    /** Usage without audio tokens. */
    public TokenUsage(long inputTokens, long cachedInputTokens, long outputTokens, long reasoningTokens, int images) {
        this(inputTokens, cachedInputTokens, outputTokens, reasoningTokens, images, 0, 0);
    }

    /** This usage with {@code images} images, its tokens as they are. */
    public TokenUsage withImages(int images) {
        return new TokenUsage(
                inputTokens,
                cachedInputTokens,
                outputTokens,
                reasoningTokens,
                images,
                audioInputTokens,
                audioOutputTokens);
    }

    /** This usage with {@code inputTokens} input tokens, the rest as it is. */
    public TokenUsage withInputTokens(long inputTokens) {
        return new TokenUsage(
                inputTokens,
                cachedInputTokens,
                outputTokens,
                reasoningTokens,
                images,
                audioInputTokens,
                audioOutputTokens);
    }

    /** Input plus output tokens. */
    public long totalTokens() {
        return inputTokens + outputTokens;
    }
}
