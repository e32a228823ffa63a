package io.github.openaiproxy.core.observe;

import java.util.Locale;

/**
 * What the proxy makes of the trace context a client sends ({@code traceparent}, {@code tracestate}, or another
 * propagator's headers), setting {@code tracing.client-context}. A client's context carries its sampled flag: with
 * the usual parent-based sampler it decides whether the proxy's spans are recorded and exported, so a client on the
 * internet could have every request of its traced.
 */
public enum ClientTraceContext {
    /**
     * The default: observers get no request headers, so the proxy's spans start a trace of their own (or continue
     * the host's current span), sampled as the proxy's sampler decides.
     */
    IGNORE,
    /**
     * Observers get the request's headers and continue the client's trace, its sampled flag included: for a proxy
     * behind a gateway that sets or checks the context.
     */
    CONTINUE;

    /** {@code ignore} or {@code continue}, in any case. */
    public static ClientTraceContext parse(String text) {
        return switch (text.strip().toLowerCase(Locale.ROOT)) {
            case "ignore" -> IGNORE;
            case "continue" -> CONTINUE;
            default -> throw new IllegalArgumentException("tracing.client-context must be ignore or continue: " + text);
        };
    }
}
