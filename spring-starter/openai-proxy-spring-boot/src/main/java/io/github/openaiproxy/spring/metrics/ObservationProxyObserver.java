package io.github.openaiproxy.spring.metrics;

import io.github.openaiproxy.core.observe.GenAiConventions;
import io.github.openaiproxy.core.observe.ModelTags;
import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.Usage;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.SenderContext;
import java.time.Duration;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * The proxy's GenAI telemetry through Micrometer Observation, so that Spring Boot's own set-up turns it into
 * metrics (Micrometer) and spans (Micrometer Tracing with the OpenTelemetry or Brave bridge) and propagates the
 * trace context, as OpenTelemetry's GenAI semantic conventions name them.
 *
 * <ul>
 *   <li>One observation per GenAI request, {@value #REQUEST} (the metric is that timer; the span is named
 *       {@code {gen_ai.operation.name} {gen_ai.request.model}}), a child of the current observation (Boot's HTTP
 *       server observation, which continues the caller's {@code traceparent}).
 *   <li>One child per upstream attempt, {@value #ATTEMPT}, started with a {@link SenderContext} whose carrier is the
 *       upstream call's headers: with tracing on, its trace context ({@code traceparent}) goes upstream, and never
 *       a {@code baggage} header (the caller's baggage, which Boot's server observation takes in, is in it).
 *   <li>With a {@link GenAiMeters} (a {@code MeterRegistry} is there): {@code gen_ai.client.token.usage} and
 *       {@code gen_ai.server.time_to_first_token}.
 * </ul>
 *
 * <p>The span's name (the contextual name) holds the model only once it is a tag value (an upstream answered it
 * successfully), else it is the operation alone ({@code chat}): tracing back ends index span names, and a client could
 * otherwise make one per request with a made-up model.
 *
 * <p>Low-cardinality key values (metric tags): {@code gen_ai.operation.name}, {@code gen_ai.provider.name},
 * {@code gen_ai.request.model} and {@code gen_ai.response.model} (bounded as the {@code openai.proxy.*} metrics bound
 * models: {@code other} for unknown names, {@code none} when absent), {@code error.type} ({@code none} on success);
 * on attempts also {@code openai_proxy.upstream} and {@code http.response.status_code}. A failed request or attempt
 * ends with an {@linkplain io.micrometer.observation.Observation#error error} (a {@code FailedOperation} whose message
 * is the {@code error.type}), so that a tracing bridge marks its span ERROR. High-cardinality (spans only):
 * {@code gen_ai.usage.input_tokens}, {@code gen_ai.usage.output_tokens}, and an attempt's model. No prompt,
 * completion, key or URL.
 */
public final class ObservationProxyObserver implements ProxyObserver {
    /** The request observation's name: its timer is the conventions' operation duration. */
    public static final String REQUEST = "gen_ai.client.operation.duration";

    /** The attempt observation's name. */
    public static final String ATTEMPT = "openai.proxy.upstream.call";

    private static final String NO_VALUE = "none";

    /** The W3C baggage header, which never goes upstream. */
    private static final String BAGGAGE = "baggage";

    private final ObservationRegistry registry;
    private final GenAiMeters meters;
    private final ModelTags models;

    /**
     * @param registry where observations go
     * @param meters the token and first-token meters, or {@code null} without a {@code MeterRegistry}
     * @param maxModelTags the most distinct model names used as tag values
     */
    public ObservationProxyObserver(ObservationRegistry registry, GenAiMeters meters, int maxModelTags) {
        this.registry = registry;
        this.meters = meters;
        this.models = MicrometerProxyObserver.tags(maxModelTags);
    }

    @Override
    public Observation begin(String method, String path) {
        String operation = GenAiConventions.operation(method, path);
        if (operation == null || registry.isNoop()) {
            return Observation.NONE;
        }
        io.micrometer.observation.Observation o = io.micrometer.observation.Observation.createNotStarted(
                        REQUEST, registry)
                .contextualName(operation)
                .lowCardinalityKeyValue("gen_ai.operation.name", operation)
                .lowCardinalityKeyValue("gen_ai.provider.name", "openai")
                .lowCardinalityKeyValue("gen_ai.request.model", NO_VALUE)
                .lowCardinalityKeyValue("gen_ai.response.model", NO_VALUE)
                .lowCardinalityKeyValue("error.type", NO_VALUE)
                .start();
        return new RequestObservation(operation, o);
    }

    @Override
    public boolean wantsDetails() {
        return true;
    }

    private final class RequestObservation implements ProxyObserver.Observation {
        private final String operation;
        private final io.micrometer.observation.Observation observation;
        private volatile String requestModel;
        private volatile String responseModel;
        private volatile String provider = "openai";
        private volatile io.micrometer.observation.Observation attempt;
        private volatile boolean attemptModelKnown;
        /** The model the open attempt asked for, named on it once a success makes it a tag value. */
        private volatile String attemptModel;

        private volatile Usage usage;
        private volatile long firstEventNanos = -1;

        RequestObservation(String operation, io.micrometer.observation.Observation observation) {
            this.operation = operation;
            this.observation = observation;
        }

        @Override
        public void routed(String route, Optional<String> model) {
            model.ifPresent(m -> {
                requestModel = m;
                observation.contextualName(name(operation, m));
                io.micrometer.observation.Observation a = attempt;
                if (a != null && !attemptModelKnown) {
                    // The default upstream's streamed body: its model is known only once it has gone.
                    a.contextualName(name(operation, m));
                    a.highCardinalityKeyValue("gen_ai.request.model", cut(m));
                    attemptModel = m;
                }
            });
        }

        @Override
        public void upstreamAttemptStarted(
                String upstream, String kind, String model, BiConsumer<String, String> headers) {
            endAttempt(null);
            String p = GenAiConventions.provider(upstream, kind);
            provider = p;
            SenderContext<BiConsumer<String, String>> context = new SenderContext<>(
                    (carrier, key, value) -> {
                        // Boot's server observation took the caller's baggage in with its trace context, mixed
                        // with the host's: text a browser wrote, never for a third-party upstream.
                        if (!BAGGAGE.equalsIgnoreCase(key)) {
                            carrier.accept(key, value);
                        }
                    },
                    io.micrometer.observation.transport.Kind.CLIENT);
            context.setCarrier(headers);
            context.setRemoteServiceName(upstream);
            io.micrometer.observation.Observation a = io.micrometer.observation.Observation.createNotStarted(
                            ATTEMPT, () -> context, registry)
                    .parentObservation(observation)
                    .contextualName(name(operation, model))
                    .lowCardinalityKeyValue("gen_ai.operation.name", operation)
                    .lowCardinalityKeyValue("gen_ai.provider.name", p)
                    .lowCardinalityKeyValue("openai_proxy.upstream", upstream)
                    .lowCardinalityKeyValue("http.response.status_code", NO_VALUE)
                    .lowCardinalityKeyValue("error.type", NO_VALUE)
                    .highCardinalityKeyValue("gen_ai.request.model", model == null ? NO_VALUE : cut(model));
            attemptModelKnown = model != null;
            attemptModel = model;
            attempt = a;
            // With tracing on, the propagating handler writes traceparent into the carrier here. The request's scope
            // is opened around it: a tracer prefers the span in scope (on the first attempt, the HTTP server's) to
            // the parent observation's.
            try (io.micrometer.observation.Observation.Scope scope = observation.openScope()) {
                a.start();
            }
        }

        @Override
        public void upstreamAttempt(String upstream, String outcome) {
            io.micrometer.observation.Observation a = attempt;
            if (a == null) {
                return;
            }
            int status = GenAiConventions.attemptStatus(outcome);
            if (status > 0) {
                a.lowCardinalityKeyValue("http.response.status_code", outcome);
            }
            if (status == 0 || status >= 400) {
                endAttempt(outcome);
            }
        }

        @Override
        public void upstreamResponded(int status, Duration latency) {
            io.micrometer.observation.Observation a = attempt;
            if (a != null) {
                a.lowCardinalityKeyValue("http.response.status_code", Integer.toString(status));
            }
        }

        @Override
        public void responseModel(String model) {
            responseModel = model;
        }

        @Override
        public void usage(Usage u) {
            usage = u;
            observation.highCardinalityKeyValue("gen_ai.usage.input_tokens", Long.toString(u.inputTokens()));
            observation.highCardinalityKeyValue("gen_ai.usage.output_tokens", Long.toString(u.outputTokens()));
            io.micrometer.observation.Observation a = attempt;
            if (a != null) {
                a.highCardinalityKeyValue("gen_ai.usage.input_tokens", Long.toString(u.inputTokens()));
                a.highCardinalityKeyValue("gen_ai.usage.output_tokens", Long.toString(u.outputTokens()));
            }
        }

        @Override
        public void firstEvent(Duration sinceStart) {
            firstEventNanos = sinceStart.toNanos();
        }

        @Override
        public void finished(int status, boolean streamed, Outcome outcome, Duration duration) {
            String error = GenAiConventions.errorType(status, outcome);
            boolean succeeded = error == null;
            String request = models.tag(requestModel, succeeded);
            String response = models.tag(responseModel, succeeded);
            // A success makes the model a tag value: the observations still open are named with it now.
            observation.contextualName(name(operation, requestModel));
            io.micrometer.observation.Observation a = attempt;
            if (a != null) {
                String m = attemptModel;
                if (m != null) {
                    models.tag(m, succeeded); // a deployment a named upstream answered for is a known one too
                }
                a.contextualName(name(operation, m));
            }
            endAttempt(error);
            String p = provider;
            observation
                    .lowCardinalityKeyValue("gen_ai.provider.name", p)
                    .lowCardinalityKeyValue("gen_ai.request.model", request)
                    .lowCardinalityKeyValue("gen_ai.response.model", response)
                    .lowCardinalityKeyValue("error.type", error == null ? NO_VALUE : error);
            // The request's span is the GenAI operation's, inside Boot's server span: every failure is ERROR.
            if (GenAiConventions.isSpanError(status, error, false)) {
                observation.error(new FailedOperation(error));
            }
            if (meters != null) {
                Usage u = usage;
                if (u != null) {
                    meters.tokens(operation, p, request, response, u);
                }
                long first = firstEventNanos;
                if (streamed && succeeded && first >= 0) {
                    meters.firstToken(operation, p, request, response, Duration.ofNanos(first));
                }
            }
            observation.stop();
        }

        private void endAttempt(String error) {
            io.micrometer.observation.Observation a = attempt;
            if (a == null) {
                return;
            }
            attempt = null;
            if (error != null) {
                a.lowCardinalityKeyValue("error.type", error);
                a.error(new FailedOperation(error)); // a client span: any failed call is ERROR
            }
            a.stop();
        }
    }

    /**
     * What a failed observation reports as its error, the only way Observation has to give a tracing bridge's span
     * the status ERROR; its message is the {@code error.type} (a status, {@code timeout}, {@code upstream_failed}).
     * Without a stack trace: nothing was thrown.
     */
    static final class FailedOperation extends RuntimeException {
        private static final long serialVersionUID = 1L;

        FailedOperation(String errorType) {
            super("error.type=" + errorType, null, false, false);
        }
    }

    /** A span's name: the operation and the model when the model is a tag value, else the operation alone. */
    private String name(String operation, String model) {
        return models.isKnown(model) ? operation + " " + model : operation;
    }

    private static String cut(String model) {
        return model.length() <= 256 ? model : model.substring(0, 256);
    }
}
