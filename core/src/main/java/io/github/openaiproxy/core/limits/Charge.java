package io.github.openaiproxy.core.limits;

import java.util.Objects;

/**
 * An amount to add to a counter if it fits: a request (1), an estimate of tokens, an estimate of cost in
 * nano-dollars, or a lease (1).
 */
public record Charge(Counter counter, long amount) {
    public Charge {
        Objects.requireNonNull(counter, "counter");
        if (amount < 0) {
            throw new IllegalArgumentException("amount must not be negative: " + amount);
        }
    }
}
