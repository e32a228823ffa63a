package io.github.openaiproxy.core.observe;

/**
 * Token counts from an upstream {@code usage} object (chat completions, embeddings and the Responses
 * API name them differently; these are normalized).
 *
 * @param inputTokens {@code prompt_tokens} or {@code input_tokens}
 * @param outputTokens {@code completion_tokens} or {@code output_tokens}
 * @param totalTokens {@code total_tokens}
 */
public record Usage(long inputTokens, long outputTokens, long totalTokens) {}
