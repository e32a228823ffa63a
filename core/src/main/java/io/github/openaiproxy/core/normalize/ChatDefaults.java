package io.github.openaiproxy.core.normalize;

import java.math.BigDecimal;
import java.util.Objects;

/**
 * Defaults for chat bodies on the simple route, applied when a field is absent or {@code null}.
 *
 * @param model default {@code gpt-3.5-turbo} (a deployment should pick a current model)
 * @param temperature default 0.7
 * @param maxTokens default 1000
 * @param stream default {@code false}
 */
public record ChatDefaults(String model, BigDecimal temperature, int maxTokens, boolean stream) {
    public static final ChatDefaults DEFAULTS = new ChatDefaults("gpt-3.5-turbo", new BigDecimal("0.7"), 1000, false);

    public ChatDefaults {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(temperature, "temperature");
        if (model.isBlank()) {
            throw new IllegalArgumentException("chat default model must not be blank");
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("chat default max-tokens must be at least 1");
        }
    }

    public ChatDefaults withModel(String model) {
        return new ChatDefaults(model, temperature, maxTokens, stream);
    }

    public ChatDefaults withTemperature(BigDecimal temperature) {
        return new ChatDefaults(model, temperature, maxTokens, stream);
    }

    public ChatDefaults withMaxTokens(int maxTokens) {
        return new ChatDefaults(model, temperature, maxTokens, stream);
    }

    public ChatDefaults withStream(boolean stream) {
        return new ChatDefaults(model, temperature, maxTokens, stream);
    }
}
