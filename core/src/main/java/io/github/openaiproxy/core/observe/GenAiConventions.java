package io.github.openaiproxy.core.observe;

import java.util.Locale;
import java.util.Map;

/**
 * The OpenTelemetry GenAI semantic conventions' names for what the proxy relays, shared by every observer that
 * reports them (OpenTelemetry in core, Micrometer Observation in the Spring starter), so both name alike.
 */
public final class GenAiConventions {
    private static final Map<String, String> OPERATIONS = Map.of(
            "/v1/chat/completions", "chat",
            "/v1/responses", "chat",
            "/", "chat",
            "/v1/completions", "text_completion",
            "/v1/embeddings", "embeddings",
            // The conventions name no image operation: generate_content, with gen_ai.output.type=image.
            "/v1/images/generations", "generate_content",
            "/images/generations", "generate_content",
            "/generate-image", "generate_content");

    private GenAiConventions() {}

    /** {@code gen_ai.operation.name} of a request, or {@code null} when it is no GenAI operation. */
    public static String operation(String method, String path) {
        return "POST".equals(method) ? OPERATIONS.get(path) : null;
    }

    /**
     * {@code gen_ai.provider.name}: OpenAI's and Azure OpenAI's well-known names, else the upstream's configured
     * name (an OpenAI-compatible server).
     */
    public static String provider(String upstream, String kind) {
        return switch (kind) {
            case "openai" -> "openai";
            case "azure" -> "azure.ai.openai";
            default -> upstream;
        };
    }

    /**
     * The HTTP status an upstream attempt's outcome ({@link ProxyObserver.Observation#upstreamAttempt}) names, or 0
     * when it names a failure without one ({@code error}, {@code timeout}, ...). An attempt whose status is 0 or
     * 400 and above has failed; one below 400 is the answer.
     */
    public static int attemptStatus(String outcome) {
        if (outcome.length() != 3 || !outcome.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return 0;
        }
        return Integer.parseInt(outcome);
    }

    /**
     * {@code error.type} of a finished exchange: its status from 400 on, else how its body ended when that was not
     * {@link Outcome#COMPLETED} ({@code client_gone}, {@code upstream_failed}); {@code null} when it succeeded.
     */
    public static String errorType(int status, Outcome outcome) {
        if (status >= 400) {
            return Integer.toString(status);
        }
        return outcome == Outcome.COMPLETED ? null : outcome.name().toLowerCase(Locale.ROOT);
    }

    /**
     * Whether a span that ended with {@code errorType} ({@link #errorType}; {@code null}: it succeeded) has the
     * status ERROR. As the HTTP conventions have it, a server span's 4xx is the caller's doing and leaves the status
     * unset (its {@code error.type} stays: the GenAI operation failed); a 5xx, a failure without a status and every
     * error of a client or internal span is ERROR.
     *
     * @param status the HTTP status the span ended with, or 0 when there was none
     * @param serverSpan whether the span is the request's {@code SERVER} span
     */
    public static boolean isSpanError(int status, String errorType, boolean serverSpan) {
        return errorType != null && !(serverSpan && status >= 400 && status < 500);
    }
}
