package io.github.openaiproxy.core.observe;

import java.time.Duration;
import java.util.Optional;

/**
 * Hooks for metrics and tracing, free of any metrics library (the Spring starter binds them to
 * Micrometer). Called on request threads: implementations must be fast and never block or throw.
 */
public interface ProxyObserver {
    /** Observes nothing, at no cost. */
    ProxyObserver NONE = (method, path) -> Observation.NONE;

    /** A request arrived; the returned observation receives the rest of its story. */
    Observation begin(String method, String path);

    /**
     * A request arrived, with its headers: a tracing observer continues the caller's trace from its W3C trace
     * context ({@code traceparent}, {@code tracestate}). By default {@link #begin(String, String)}: the headers
     * are only read by an observer that asks for them. The engine calls it only with {@code
     * tracing.client-context=continue}; otherwise it calls {@link #begin(String, String)}, so that no client
     * decides what is sampled.
     */
    default Observation begin(String method, String path, java.net.http.HttpHeaders headers) {
        return begin(method, path);
    }

    /**
     * A sub-request began: a module's route (GraphQL) runs it through the proxy's own routes on behalf
     * of a client request that is observed already. Observed like any request by default; an observer
     * that counts client requests leaves these out of the count and keeps their upstream calls and usage.
     */
    default Observation beginSubRequest(String method, String path) {
        return begin(method, path);
    }

    /**
     * A sub-request began, with its headers: the client request's W3C trace context ({@code traceparent},
     * {@code tracestate}) goes along, so a tracing observer continues the caller's trace. By default {@link
     * #beginSubRequest(String, String)}.
     */
    default Observation beginSubRequest(String method, String path, java.net.http.HttpHeaders headers) {
        return beginSubRequest(method, path);
    }

    /** Whether this observer wants usage and model details (which cost some parsing). */
    default boolean wantsDetails() {
        return this != NONE;
    }

    /**
     * One request's story. Calls come in this order: {@link #upstreamResponded} (when there was an
     * upstream call), {@link #routed} (once the response is ready), {@link #streamOpened} and
     * {@link #firstEvent} (streams), {@link #usage}, {@link #finished}; a request the access checks refuse
     * gets {@link #refused} before {@link #routed}. All methods default to doing nothing; an exception
     * thrown by one is logged and ignored.
     */
    interface Observation {
        Observation NONE = new Observation() {};

        /**
         * The route is known.
         *
         * @param route the route template, for example {@code /v1/chat/completions}, or {@code unmatched}
         * @param model the model the request names, when known
         */
        default void routed(String route, Optional<String> model) {}

        /** The upstream answered with headers after {@code latency}. */
        default void upstreamResponded(int status, Duration latency) {}

        /** The first event of a stream went to the client, {@code sinceStart} after the request arrived. */
        default void firstEvent(Duration sinceStart) {}

        /** A stream was opened to the client (matched by one {@link #finished}). */
        default void streamOpened() {}

        /** The upstream reported token usage. */
        default void usage(Usage usage) {}

        /**
         * The access checks refused the request (401 or 403), with no upstream call; so did a route that checks its
         * callers itself (the admin API: the error's code as reason, {@link #NO_POLICY}). Both values come from
         * small fixed sets, so they may be metric tags: never a key, a user name or an address.
         *
         * @param reason why, for example {@code unknown_key}, {@code no_credential}, {@code model_not_allowed}
         * @param policy the policy that refused, or {@link #NO_POLICY} when the caller was not identified
         */
        default void refused(String reason, String policy) {}

        /**
         * One attempt at a named upstream (each retry and fallback is one), in order, before {@link #routed}.
         * Both values come from configuration or small fixed sets, so they may be metric tags: never a URL or key.
         *
         * @param upstream the upstream's configured name
         * @param outcome the upstream's status ({@code 200}, {@code 429}, ...), or {@code error} (connection
         *     failure), {@code timeout} (before the headers), {@code no-key} (every key resting), {@code open} (its
         *     circuit is open; no call made) or {@code unsupported} (it cannot serve this operation; no call made)
         */
        default void upstreamAttempt(String upstream, String outcome) {}

        /**
         * An upstream call is about to go: each attempt at a named upstream (before its {@link #upstreamAttempt}),
         * or the one call of the default upstream (before {@link #upstreamResponded}). A tracing observer starts
         * the attempt's span here and hands the upstream its trace context through {@code headers} (W3C
         * {@code traceparent} and {@code tracestate}), so that the model server's spans continue the trace. Only
         * headers can be added, and only for this call; the proxy's own headers (credentials above all) cannot be
         * replaced. Never called when no observer is configured.
         *
         * @param upstream the upstream's configured name ({@code openai} for the default upstream)
         * @param kind its wire format, {@code openai}, {@code azure} or {@code compatible}
         * @param model the model asked of the upstream (after its aliases; Azure's deployment), or {@code null}
         * @param headers takes a header name and value to send with this call
         */
        default void upstreamAttemptStarted(
                String upstream, String kind, String model, java.util.function.BiConsumer<String, String> headers) {}

        /**
         * The model the upstream's answer names ({@code model} of a JSON answer, or of the stream's event that
         * carries the usage), for observers that {@link ProxyObserver#wantsDetails() want details}; before
         * {@link #usage}. The name the client sees: an alias's answer names the client's model.
         */
        default void responseModel(String model) {}

        /** The policy of a refusal that came before any policy applied (no valid identity). */
        String NO_POLICY = "none";

        /**
         * The images of a successful image generation could not be stored ({@code images.store} is on): the
         * client gets the upstream's answer unchanged, with {@code x-openai-proxy-image-stored: false}. Called
         * once per such answer, before {@link #finished}. The reason comes from a small fixed set, so it may be
         * a metric tag: {@code fetch_refused_host} (a link or a redirect off {@code images.fetch-hosts}),
         * {@code fetch_bad_link}, {@code fetch_timeout}, {@code fetch_failed} (a connection failure, a status
         * other than 200, too many redirects), {@code not_an_image}, {@code too_large}, {@code store_failed},
         * {@code store_timeout} (the store did not answer in time), {@code busy} (no image thread free), {@code content_encoded} (an answer the proxy cannot read).
         *
         * @param reason why the first image that failed was not stored
         */
        default void imageNotStored(String reason) {}

        /**
         * A request that reached the upstream is over and its usage is known: the usage ledger's row, with its
         * tokens by type and its cost (estimated when the upstream gave no numbers). Called once per such request,
         * sub-requests included, whether or not a ledger is kept; and once more for each call of a named upstream
         * that timed out with the request sent before a retry or a fallback (that upstream bills its prompt). Its
         * policy and models come from configuration and clients: bound them before using them as metric tags. It
         * holds a key's id, never a key.
         *
         * @param record the row
         */
        default void metered(io.github.openaiproxy.core.usage.UsageRecord record) {}

        /** The response is over: its status, whether it streamed, how it ended and how long it took. */
        default void finished(int status, boolean streamed, Outcome outcome, Duration duration) {}
    }
}
