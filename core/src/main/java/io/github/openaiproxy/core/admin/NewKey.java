package io.github.openaiproxy.core.admin;

import java.time.Instant;

/**
 * What a new key is asked for with.
 *
 * @param name what the key is for (1-200 characters, no control characters)
 * @param owner who it belongs to, or {@code null}
 * @param policy its policy's name, or {@code null} for the default policy of keys ({@code keys})
 * @param expiresAt when it stops working, or {@code null} for never
 */
public record NewKey(String name, String owner, String policy, Instant expiresAt) {}
