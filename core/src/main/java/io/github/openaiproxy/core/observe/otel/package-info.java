/**
 * The proxy's telemetry on the OpenTelemetry API, named as OpenTelemetry's GenAI semantic conventions name it:
 * {@link io.github.openaiproxy.core.observe.otel.OpenTelemetryProxyObserver}. Needs
 * {@code io.opentelemetry:opentelemetry-api} on the class path (an optional dependency of core); nothing else in core
 * touches it.
 */
package io.github.openaiproxy.core.observe.otel;
