package io.github.openaiproxy.examples.standalone;

import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.otel.OpenTelemetryProxyObserver;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.spi.ConfigurationException;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The server's OpenTelemetry: the SDK as the standard {@code OTEL_*} variables configure it (OTLP by default), with
 * core's {@link OpenTelemetryProxyObserver} on it, only when one of {@link #TRIGGERS} is set; otherwise nothing is
 * started and the proxy runs without an observer. Never the global instance: the SDK is the server's and is shut
 * down (exports flushed) when the server stops.
 */
final class Telemetry implements AutoCloseable {
    /** The variables that turn telemetry on. */
    static final List<String> TRIGGERS = List.of(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_TRACES_EXPORTER",
            "OTEL_METRICS_EXPORTER");

    private final OpenTelemetrySdk sdk;
    private final ProxyObserver observer;

    private Telemetry(OpenTelemetrySdk sdk) {
        this.sdk = sdk;
        this.observer = OpenTelemetryProxyObserver.create(sdk);
    }

    /** The telemetry {@code env} asks for; empty when none of {@link #TRIGGERS} is set, or the SDK is disabled. */
    static Optional<Telemetry> fromEnvironment(Map<String, String> env) {
        boolean asked = TRIGGERS.stream()
                .anyMatch(t -> env.get(t) != null && !env.get(t).isBlank());
        if (!asked
                || "true"
                        .equalsIgnoreCase(
                                env.getOrDefault("OTEL_SDK_DISABLED", "").strip())) {
            return Optional.empty();
        }
        Map<String, String> properties = new HashMap<>();
        env.forEach((name, value) -> {
            if (name.startsWith("OTEL_")) {
                // As the SDK reads its variables: OTEL_EXPORTER_OTLP_ENDPOINT is otel.exporter.otlp.endpoint.
                properties.put(name.toLowerCase(Locale.ROOT).replace('_', '.'), value);
            }
        });
        properties.putIfAbsent("otel.service.name", "openai-proxy");
        // Logs stay with the JDK's logging unless asked for.
        properties.putIfAbsent("otel.logs.exporter", "none");
        // The Java SDK's own default is gRPC, whose sender is not bundled (the server starts none of its own
        // threads for it): OTLP over HTTP, as the specification's default and the README's port 4318 have it.
        properties.putIfAbsent("otel.exporter.otlp.protocol", "http/protobuf");
        OpenTelemetrySdk sdk;
        try {
            sdk = AutoConfiguredOpenTelemetrySdk.builder()
                    .addPropertiesSupplier(() -> properties)
                    .disableShutdownHook()
                    .build()
                    .getOpenTelemetrySdk();
        } catch (ConfigurationException e) {
            // The SDK's message is often "Unexpected configuration error"; its cause says what to fix.
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IllegalArgumentException("OpenTelemetry (OTEL_* variables): " + cause.getMessage(), e);
        }
        return Optional.of(new Telemetry(sdk));
    }

    /** The observer to add to the engine. */
    ProxyObserver observer() {
        return observer;
    }

    /** Flushes what is left and stops the exporters. */
    @Override
    public void close() {
        sdk.close();
    }
}
