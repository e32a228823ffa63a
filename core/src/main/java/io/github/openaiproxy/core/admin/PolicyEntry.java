package io.github.openaiproxy.core.admin;

import io.github.openaiproxy.core.access.Policy;

/**
 * A policy as the admin API lists it.
 *
 * @param policy the policy
 * @param configured whether it comes from configuration (read-only) rather than the policy store
 */
public record PolicyEntry(Policy policy, boolean configured) {}
