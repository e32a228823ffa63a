package io.github.openaiproxy.spring.metrics;

import io.github.openaiproxy.core.observe.Usage;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;

/**
 * The GenAI conventions' meters that are no observation's timer: {@code gen_ai.client.token.usage} (a distribution
 * summary of tokens, {@code gen_ai.token.type} {@code input} or {@code output}) and
 * {@code gen_ai.server.time_to_first_token} (a timer, streams that completed). Tags as
 * {@link ObservationProxyObserver}'s low-cardinality key values.
 */
public final class GenAiMeters {
    private final MeterRegistry registry;

    public GenAiMeters(MeterRegistry registry) {
        this.registry = registry;
    }

    void tokens(String operation, String provider, String requestModel, String responseModel, Usage usage) {
        summary(operation, provider, requestModel, responseModel, "input").record(usage.inputTokens());
        summary(operation, provider, requestModel, responseModel, "output").record(usage.outputTokens());
    }

    void firstToken(String operation, String provider, String requestModel, String responseModel, Duration took) {
        Timer.builder("gen_ai.server.time_to_first_token")
                .description("Time to generate first token for successful responses")
                .tags(
                        "gen_ai.operation.name", operation,
                        "gen_ai.provider.name", provider,
                        "gen_ai.request.model", requestModel,
                        "gen_ai.response.model", responseModel)
                .register(registry)
                .record(took);
    }

    private DistributionSummary summary(
            String operation, String provider, String requestModel, String responseModel, String type) {
        return DistributionSummary.builder("gen_ai.client.token.usage")
                .description("Measures number of input and output tokens used")
                .baseUnit("{token}")
                .tags(
                        "gen_ai.operation.name", operation,
                        "gen_ai.provider.name", provider,
                        "gen_ai.request.model", requestModel,
                        "gen_ai.response.model", responseModel,
                        "gen_ai.token.type", type)
                .register(registry);
    }
}
