package io.github.openaiproxy.core.upstream;

import java.util.Locale;
import java.util.Objects;

/**
 * A read-only snapshot of one named upstream, for health endpoints: how many keys it has, how many a 401 or
 * 403 took out, and its circuit. Never a key, a masked key or a URL.
 *
 * @param name the configured name
 * @param keys how many keys it is configured with (0 for a server without auth)
 * @param keysRemoved how many were taken out until restart by a 401
 * @param circuit its circuit breaker's state
 */
public record UpstreamState(String name, int keys, int keysRemoved, Circuit circuit) {
    /** A circuit breaker's state. */
    public enum Circuit {
        /** Requests go through. */
        CLOSED,
        /** The upstream is skipped for a while, or one trial request is on its way (half-open). */
        OPEN,
        /** No breaker ({@code breaker-failures} 0). */
        OFF;

        /** {@code closed}, {@code open} or {@code off}. */
        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public UpstreamState {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(circuit, "circuit");
    }

    /** The state of an upstream from its pool and breaker ({@code null}: none). */
    public static UpstreamState of(NamedUpstream upstream, KeyPool pool, CircuitBreaker breaker) {
        Circuit circuit = breaker == null || upstream.retry().breakerFailures() == 0
                ? Circuit.OFF
                : breaker.isOpen() ? Circuit.OPEN : Circuit.CLOSED;
        return new UpstreamState(
                upstream.name(), upstream.keys().size(), pool == null ? 0 : pool.removedCount(), circuit);
    }
}
