package io.github.openaiproxy.core.observe.otel;

import io.github.openaiproxy.core.observe.GenAiConventions;
import io.github.openaiproxy.core.observe.ModelTags;
import io.github.openaiproxy.core.observe.Outcome;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.observe.Usage;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.baggage.Baggage;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.metrics.LongHistogram;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.context.propagation.TextMapSetter;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * The proxy's telemetry as OpenTelemetry's GenAI semantic conventions name it, on any {@link OpenTelemetry} (the
 * SDK, the Java agent's, or a no-op one). Added to an engine with {@code ProxyEngine.Builder.observer(...)}.
 *
 * <ul>
 *   <li><b>Spans.</b> One per GenAI request ({@code {gen_ai.operation.name} {gen_ai.request.model}}, for example
 *       {@code chat gpt-4o}), the child of the caller's W3C trace context ({@code traceparent}, {@code tracestate})
 *       when the request carries one and the engine passes the headers on ({@code tracing.client-context=continue};
 *       by default it does not), else of the current span; and one {@link SpanKind#CLIENT} child per upstream
 *       attempt (retries and fallbacks each have their own), whose trace context goes to the upstream, so the model
 *       server's spans continue the trace. The caller's {@code baggage} is never taken in, so it never reaches the
 *       upstream. A span's name carries the model only when the metrics would (see below), else it is the
 *       operation alone ({@code chat}): tools index span names, and a client could otherwise make one per request.
 *       The {@code gen_ai.request.model} attribute always has the name. Attributes: {@code gen_ai.operation.name},
 *       {@code gen_ai.provider.name}
 *       ({@code openai}, {@code azure.ai.openai}, or a compatible upstream's configured name),
 *       {@code gen_ai.request.model}, {@code gen_ai.response.model}, {@code gen_ai.usage.input_tokens},
 *       {@code gen_ai.usage.output_tokens}, {@code http.response.status_code}, {@code error.type}, and on attempts
 *       {@code openai_proxy.upstream} (the configured name). No prompt, completion, key or URL is ever recorded.
 *       Status ERROR for a failed attempt and a failed request, except a server span's 4xx, which is the caller's
 *       (see {@link io.github.openaiproxy.core.observe.GenAiConventions#isSpanError}).
 *   <li><b>Metrics.</b> {@code gen_ai.client.operation.duration} (s, per request, to its last byte),
 *       {@code gen_ai.client.token.usage} ({@code {token}}, {@code gen_ai.token.type} {@code input} or
 *       {@code output}) and {@code gen_ai.server.time_to_first_token} (s, streams that completed), with the
 *       conventions' bucket boundaries, attributes {@code gen_ai.operation.name}, {@code gen_ai.provider.name},
 *       {@code gen_ai.request.model}, {@code gen_ai.response.model} and {@code error.type}. The model names are
 *       text a client chooses, so in metrics they are bounded: a name counts only once an upstream answered it
 *       successfully, only if it looks like a model id and only while fewer than {@value #MAX_MODELS} are known;
 *       anything else is {@code _OTHER}.
 * </ul>
 *
 * <p>The operations: {@code chat} ({@code /v1/chat/completions}, {@code /v1/responses} and the simple
 * {@code POST /}), {@code text_completion} ({@code /v1/completions}), {@code embeddings} ({@code /v1/embeddings})
 * and {@code generate_content} (image generation: the conventions name no image operation, and theirs for
 * multimodal generation is this one). Other routes (models, files, sessions, the admin API) are not GenAI
 * operations and are not observed here.
 */
public final class OpenTelemetryProxyObserver implements ProxyObserver {
    /** The instrumentation scope of the tracer and meter. */
    public static final String SCOPE = "io.github.openaiproxy";

    /** The most distinct model names used as metric attributes. */
    public static final int MAX_MODELS = 100;

    static final AttributeKey<String> OPERATION = AttributeKey.stringKey("gen_ai.operation.name");
    static final AttributeKey<String> PROVIDER = AttributeKey.stringKey("gen_ai.provider.name");
    static final AttributeKey<String> REQUEST_MODEL = AttributeKey.stringKey("gen_ai.request.model");
    static final AttributeKey<String> RESPONSE_MODEL = AttributeKey.stringKey("gen_ai.response.model");
    static final AttributeKey<Long> INPUT_TOKENS = AttributeKey.longKey("gen_ai.usage.input_tokens");
    static final AttributeKey<Long> OUTPUT_TOKENS = AttributeKey.longKey("gen_ai.usage.output_tokens");
    static final AttributeKey<String> TOKEN_TYPE = AttributeKey.stringKey("gen_ai.token.type");
    static final AttributeKey<String> OUTPUT_TYPE = AttributeKey.stringKey("gen_ai.output.type");
    static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");
    static final AttributeKey<Long> STATUS = AttributeKey.longKey("http.response.status_code");
    static final AttributeKey<String> UPSTREAM = AttributeKey.stringKey("openai_proxy.upstream");

    /** The conventions' advice for {@code gen_ai.client.operation.duration}. */
    private static final List<Double> DURATION_BUCKETS =
            List.of(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92);
    /** The conventions' advice for {@code gen_ai.client.token.usage}. */
    private static final List<Long> TOKEN_BUCKETS = List.of(
            1L, 4L, 16L, 64L, 256L, 1024L, 4096L, 16384L, 65536L, 262144L, 1048576L, 4194304L, 16777216L, 67108864L);
    /** The conventions' advice for {@code gen_ai.server.time_to_first_token}. */
    private static final List<Double> FIRST_TOKEN_BUCKETS =
            List.of(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0);

    /** What a model id looks like: letters, digits and {@code . _ - : / @ +}, at most 128 characters. */
    private static final String OTHER = "_OTHER";

    private static final TextMapGetter<HttpHeaders> GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(HttpHeaders carrier) {
            return carrier.map().keySet();
        }

        @Override
        public String get(HttpHeaders carrier, String key) {
            return carrier == null ? null : carrier.firstValue(key).orElse(null);
        }
    };

    private static final TextMapSetter<BiConsumer<String, String>> SETTER = (carrier, key, value) -> {
        if (carrier != null) {
            carrier.accept(key, value);
        }
    };

    private final Tracer tracer;
    private final TextMapPropagator propagator;
    private final DoubleHistogram duration;
    private final LongHistogram tokens;
    private final DoubleHistogram firstToken;
    /** The model names allowed as metric attributes: those upstreams answered, at most {@link #MAX_MODELS}. */
    private final ModelTags knownModels = new ModelTags(MAX_MODELS, null, OTHER, 128);

    private OpenTelemetryProxyObserver(OpenTelemetry openTelemetry) {
        this.tracer = openTelemetry.getTracer(SCOPE);
        this.propagator = openTelemetry.getPropagators().getTextMapPropagator();
        Meter meter = openTelemetry.getMeter(SCOPE);
        this.duration = meter.histogramBuilder("gen_ai.client.operation.duration")
                .setUnit("s")
                .setDescription("GenAI operation duration")
                .setExplicitBucketBoundariesAdvice(DURATION_BUCKETS)
                .build();
        this.tokens = meter.histogramBuilder("gen_ai.client.token.usage")
                .ofLongs()
                .setUnit("{token}")
                .setDescription("Measures number of input and output tokens used")
                .setExplicitBucketBoundariesAdvice(TOKEN_BUCKETS)
                .build();
        this.firstToken = meter.histogramBuilder("gen_ai.server.time_to_first_token")
                .setUnit("s")
                .setDescription("Time to generate first token for successful responses")
                .setExplicitBucketBoundariesAdvice(FIRST_TOKEN_BUCKETS)
                .build();
    }

    /** An observer on {@code openTelemetry}'s tracer, meter and propagators. */
    public static OpenTelemetryProxyObserver create(OpenTelemetry openTelemetry) {
        return new OpenTelemetryProxyObserver(java.util.Objects.requireNonNull(openTelemetry, "openTelemetry"));
    }

    @Override
    public Observation begin(String method, String path) {
        return begin(method, path, null);
    }

    /** A GraphQL call's sub-request: its span continues the trace of the GraphQL request's caller. */
    @Override
    public Observation beginSubRequest(String method, String path, HttpHeaders headers) {
        return begin(method, path, headers);
    }

    @Override
    public Observation begin(String method, String path, HttpHeaders headers) {
        String operation = GenAiConventions.operation(method, path);
        if (operation == null) {
            return Observation.NONE;
        }
        Context current = Context.current();
        // The caller's trace context is taken, its baggage is not: text an untrusted client wrote would go
        // upstream as it is. The host's own baggage (current) stays what it was.
        Context parent = headers == null
                ? current
                : Baggage.fromContext(current).storeInContext(propagator.extract(current, headers, GETTER));
        var parentSpan = Span.fromContext(parent).getSpanContext();
        // A server span when the caller's context came in the request (or there is none); inside an instrumented
        // server (the Java agent's span is current) the proxy's work is an internal span of it.
        SpanKind kind = parentSpan.isValid() && !parentSpan.isRemote() ? SpanKind.INTERNAL : SpanKind.SERVER;
        Span span = tracer.spanBuilder(operation)
                .setParent(parent)
                .setSpanKind(kind)
                .setAttribute(OPERATION, operation)
                .startSpan();
        if (operation.equals("generate_content")) {
            span.setAttribute(OUTPUT_TYPE, "image");
        }
        return new RequestObservation(operation, parent.with(span), span, kind == SpanKind.SERVER);
    }

    @Override
    public boolean wantsDetails() {
        return true;
    }

    /** A model name for a span: as given, cut to 256 characters. */
    private static String spanValue(String model) {
        return model.length() <= 256 ? model : model.substring(0, 256);
    }

    /** A span's name: the operation and the model when the model is a known one, else the operation alone. */
    private String spanName(String operation, String model) {
        return knownModels.isKnown(model) ? operation + " " + model : operation;
    }

    /** A model name for a metric: a known one, or {@link #OTHER}; none for none. */
    private String metricModel(String model, boolean succeeded) {
        return knownModels.tag(model, succeeded);
    }

    /** One request's spans and measurements. Callbacks come one after another, possibly on different threads. */
    private final class RequestObservation implements Observation {
        private final String operation;
        private final Context context;
        private final Span span;
        /** Whether {@link #span} is a server span, whose 4xx leaves its status unset. */
        private final boolean serverSpan;

        private volatile String requestModel;
        private volatile String responseModel;
        private volatile String provider = "openai";
        private volatile Span attempt;
        private volatile boolean attemptModelKnown;
        /** The model the open attempt asked for, named on its span once a success makes it a known one. */
        private volatile String attemptModel;

        private volatile Usage usage;
        private volatile long firstEventNanos = -1;

        RequestObservation(String operation, Context context, Span span, boolean serverSpan) {
            this.operation = operation;
            this.context = context;
            this.span = span;
            this.serverSpan = serverSpan;
        }

        @Override
        public void routed(String route, Optional<String> model) {
            if (model.isEmpty()) {
                return;
            }
            String m = spanValue(model.get());
            requestModel = m;
            span.setAttribute(REQUEST_MODEL, m);
            span.updateName(spanName(operation, m));
            Span a = attempt;
            if (a != null && !attemptModelKnown) {
                // The default upstream's streamed body: its model is known only once it has gone.
                a.setAttribute(REQUEST_MODEL, m);
                a.updateName(spanName(operation, m));
                attemptModel = m;
            }
        }

        @Override
        public void upstreamAttemptStarted(
                String upstream, String kind, String model, BiConsumer<String, String> headers) {
            endAttempt(null); // a previous attempt left open (not expected): closed before the next
            String p = GenAiConventions.provider(upstream, kind);
            provider = p;
            span.setAttribute(PROVIDER, p);
            String m = model == null ? null : spanValue(model);
            var b = tracer.spanBuilder(spanName(operation, m))
                    .setParent(context)
                    .setSpanKind(SpanKind.CLIENT)
                    .setAttribute(OPERATION, operation)
                    .setAttribute(PROVIDER, p)
                    .setAttribute(UPSTREAM, upstream);
            if (m != null) {
                b.setAttribute(REQUEST_MODEL, m);
            }
            Span a = b.startSpan();
            attemptModelKnown = model != null;
            attemptModel = m;
            attempt = a;
            propagator.inject(context.with(a), headers, SETTER);
        }

        @Override
        public void upstreamAttempt(String upstream, String outcome) {
            Span a = attempt;
            if (a == null) {
                return; // no call was made (open circuit, no key, unsupported)
            }
            int status = GenAiConventions.attemptStatus(outcome);
            if (status > 0) {
                a.setAttribute(STATUS, status);
            }
            if (status == 0 || status >= 400) {
                // Failed: retried, fallen back or relayed as an error; this attempt is over.
                endAttempt(outcome);
            }
            // A success is the answer: its span lasts until the answer's last byte.
        }

        @Override
        public void upstreamResponded(int status, Duration latency) {
            Span a = attempt;
            if (a != null) {
                a.setAttribute(STATUS, status);
            }
        }

        @Override
        public void responseModel(String model) {
            String m = spanValue(model);
            responseModel = m;
            span.setAttribute(RESPONSE_MODEL, m);
            Span a = attempt;
            if (a != null) {
                a.setAttribute(RESPONSE_MODEL, m);
            }
        }

        @Override
        public void usage(Usage u) {
            usage = u;
            span.setAttribute(INPUT_TOKENS, u.inputTokens());
            span.setAttribute(OUTPUT_TOKENS, u.outputTokens());
            Span a = attempt;
            if (a != null) {
                a.setAttribute(INPUT_TOKENS, u.inputTokens());
                a.setAttribute(OUTPUT_TOKENS, u.outputTokens());
            }
        }

        @Override
        public void firstEvent(Duration sinceStart) {
            firstEventNanos = sinceStart.toNanos();
        }

        @Override
        public void finished(int status, boolean streamed, Outcome outcome, Duration took) {
            String error = GenAiConventions.errorType(status, outcome);
            boolean succeeded = error == null;
            String request = metricModel(requestModel, succeeded);
            String response = metricModel(responseModel, succeeded);
            // A success makes the model a known one: the spans still open are named with it now.
            span.updateName(spanName(operation, requestModel));
            Span a = attempt;
            if (a != null) {
                String m = attemptModel;
                if (m != null) {
                    knownModels.tag(m, succeeded); // a deployment a named upstream answered for is a known one too
                }
                a.updateName(spanName(operation, m));
            }
            endAttempt(error);
            span.setAttribute(STATUS, status);
            if (error != null) {
                span.setAttribute(ERROR_TYPE, error);
            }
            if (GenAiConventions.isSpanError(status, error, serverSpan)) {
                span.setStatus(StatusCode.ERROR);
            }
            AttributesBuilder b = Attributes.builder().put(OPERATION, operation).put(PROVIDER, provider);
            if (request != null) {
                b.put(REQUEST_MODEL, request);
            }
            if (response != null) {
                b.put(RESPONSE_MODEL, response);
            }
            if (error != null) {
                b.put(ERROR_TYPE, error);
            }
            Attributes attributes = b.build();
            duration.record(took.toNanos() / 1e9, attributes, context);
            Usage u = usage;
            if (u != null) {
                tokens.record(
                        u.inputTokens(),
                        attributes.toBuilder().put(TOKEN_TYPE, "input").build(),
                        context);
                tokens.record(
                        u.outputTokens(),
                        attributes.toBuilder().put(TOKEN_TYPE, "output").build(),
                        context);
            }
            long first = firstEventNanos;
            if (streamed && succeeded && first >= 0) {
                firstToken.record(first / 1e9, attributes, context);
            }
            span.end();
        }

        /** Ends the open attempt, if any, as failed with {@code error} (or not, when {@code null}). */
        private void endAttempt(String error) {
            Span a = attempt;
            if (a == null) {
                return;
            }
            attempt = null;
            if (error != null) {
                a.setAttribute(ERROR_TYPE, error);
                a.setStatus(StatusCode.ERROR);
            }
            a.end();
        }
    }

    /** A numeric outcome as a status, else 0 ({@code error}, {@code timeout}, ...). */
}
