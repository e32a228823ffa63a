package io.github.openaiproxy.core.usage;

import java.math.BigDecimal;
import java.util.Objects;
import java.util.Optional;

/**
 * What models cost, in US dollars. PLACEHOLDER: the usage branch ships OpenAI's prices and overrides.
 */
public final class PriceTable {
    private static final PriceTable EMPTY = new PriceTable();

    private PriceTable() {}

    /** The prices shipped with the proxy. */
    public static PriceTable shipped() {
        return EMPTY;
    }

    /** A model's token prices, per million tokens. */
    public record ModelPrice(BigDecimal input, BigDecimal cachedInput, BigDecimal output) {
        public ModelPrice {
            Objects.requireNonNull(input, "input");
            Objects.requireNonNull(cachedInput, "cachedInput");
            Objects.requireNonNull(output, "output");
        }
    }

    /** The token prices of {@code model} (a dated snapshot such as {@code gpt-4o-2024-08-06} finds its model). */
    public Optional<ModelPrice> find(String model) {
        return Optional.empty();
    }

    /**
     * The cost of {@code usage} on {@code model} in nano-dollars, rounded up; empty when the model has no
     * price. Images are priced by {@code size} and {@code quality} when {@code usage.images() > 0}.
     */
    public java.util.OptionalLong costNanoUsd(String model, TokenUsage usage, String size, String quality) {
        return java.util.OptionalLong.empty();
    }
}
