package io.github.openaiproxy.spring.metrics;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.TestBodies;
import io.micrometer.common.KeyValue;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.tck.TestObservationRegistry;
import io.micrometer.observation.tck.TestObservationRegistryAssert;
import io.micrometer.observation.transport.SenderContext;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The GenAI telemetry through Micrometer Observation: with an {@link ObservationRegistry} the engine reports each
 * GenAI request as an observation named as the conventions name the metric, with a child per upstream attempt whose
 * {@link SenderContext} carries the upstream call's headers (so a tracing bridge's trace context reaches the
 * upstream), and the token usage as {@code gen_ai.client.token.usage}; no key or content in any key value.
 */
class OpenAiProxyObservationAutoConfigurationTests {
    private static final String KEY = "sk-observed-0123456789abcdefghijklmnop";
    private static final String PROMPT = "a private prompt";

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyObservationAutoConfiguration.class));

    /** What a tracing bridge's propagating handler does on start: writes the trace context into the carrier. */
    static final class FakePropagation implements ObservationHandler<SenderContext<Object>> {
        @Override
        @SuppressWarnings("unchecked")
        public void onStart(SenderContext<Object> context) {
            context.getSetter()
                    .set(
                            context.getCarrier(),
                            "traceparent",
                            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
            context.getSetter().set(context.getCarrier(), "Authorization", "Bearer stolen"); // never replaces the key
        }

        @Override
        public boolean supportsContext(Observation.Context context) {
            return context instanceof SenderContext;
        }
    }

    @Test
    void aChatIsAnObservationWithAnAttemptChildAndTheAttemptsHeadersReachTheUpstream() {
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{"
                        + "\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}")));
        TestObservationRegistry registry = TestObservationRegistry.create();
        java.util.List<Observation.Context> stopped = new java.util.concurrent.CopyOnWriteArrayList<>();
        registry.observationConfig().observationHandler(new FakePropagation());
        registry.observationConfig().observationHandler(new ObservationHandler<>() {
            @Override
            public void onStop(Observation.Context context) {
                stopped.add(context);
            }

            @Override
            public boolean supportsContext(Observation.Context context) {
                return true;
            }
        });
        runner.withBean(ObservationRegistry.class, () -> registry)
                .withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .withPropertyValues("openai.proxy.api-key=" + KEY, "openai.proxy.base-url=" + upstream.baseUrl())
                .run(context -> {
                    assertThat(context).hasSingleBean(ObservationProxyObserver.class);
                    TestBodies.text(
                            context.getBean(ProxyEngine.class),
                            ProxyRequest.builder("POST", "/v1/chat/completions")
                                    .header("Content-Type", "application/json")
                                    .body(("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\""
                                                    + PROMPT + "\"}]}")
                                            .getBytes(StandardCharsets.UTF_8))
                                    .build());

                    TestObservationRegistryAssert.assertThat(registry)
                            .hasObservationWithNameEqualTo(ObservationProxyObserver.REQUEST)
                            .that()
                            .hasContextualNameEqualTo("chat gpt-4o")
                            .hasLowCardinalityKeyValue("gen_ai.operation.name", "chat")
                            .hasLowCardinalityKeyValue("gen_ai.provider.name", "openai")
                            .hasLowCardinalityKeyValue("gen_ai.request.model", "gpt-4o")
                            .hasLowCardinalityKeyValue("gen_ai.response.model", "gpt-4o-2024-08-06")
                            .hasLowCardinalityKeyValue("error.type", "none")
                            .hasHighCardinalityKeyValue("gen_ai.usage.input_tokens", "9")
                            .hasHighCardinalityKeyValue("gen_ai.usage.output_tokens", "3")
                            .hasBeenStopped();
                    TestObservationRegistryAssert.assertThat(registry)
                            .hasObservationWithNameEqualTo(ObservationProxyObserver.ATTEMPT)
                            .that()
                            .hasContextualNameEqualTo("chat gpt-4o")
                            .hasLowCardinalityKeyValue("openai_proxy.upstream", "openai")
                            .hasLowCardinalityKeyValue("http.response.status_code", "200")
                            .hasHighCardinalityKeyValue("gen_ai.usage.output_tokens", "3")
                            .hasBeenStopped()
                            .satisfies(c -> assertThat(c.getParentObservation()
                                            .getContextView()
                                            .getName())
                                    .isEqualTo(ObservationProxyObserver.REQUEST));
                    assertThat(stopped).hasSize(2);
                    for (Observation.Context c : stopped) {
                        assertThat(c.getAllKeyValues().stream()
                                        .map(KeyValue::getValue)
                                        .toList()
                                        .toString())
                                .doesNotContain(KEY)
                                .doesNotContain(PROMPT)
                                .doesNotContain(upstream.baseUrl());
                    }

                    var sent = upstream.findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))
                            .get(0);
                    assertThat(sent.getHeader("traceparent"))
                            .isEqualTo("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
                    assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + KEY);

                    MeterRegistry meters = context.getBean(MeterRegistry.class);
                    assertThat(meters.get("gen_ai.client.token.usage")
                                    .tag("gen_ai.token.type", "input")
                                    .tag("gen_ai.request.model", "gpt-4o")
                                    .summary()
                                    .totalAmount())
                            .isEqualTo(9.0);
                    assertThat(meters.get("gen_ai.client.token.usage")
                                    .tag("gen_ai.token.type", "output")
                                    .summary()
                                    .totalAmount())
                            .isEqualTo(3.0);
                });
    }

    /**
     * With Micrometer Tracing's OpenTelemetry bridge, as Boot's tracing set-up wires it: the caller's
     * {@code traceparent}, taken by a server observation in scope, continues through the request's span and the
     * attempt's span to the upstream.
     */
    @Test
    void withTheOpenTelemetryBridgeTheCallersTraceRunsThroughToTheUpstream() {
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}")));
        io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter spans =
                io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter.create();
        io.opentelemetry.sdk.OpenTelemetrySdk sdk = io.opentelemetry.sdk.OpenTelemetrySdk.builder()
                .setTracerProvider(io.opentelemetry.sdk.trace.SdkTracerProvider.builder()
                        .addSpanProcessor(io.opentelemetry.sdk.trace.export.SimpleSpanProcessor.create(spans))
                        .build())
                .setPropagators(io.opentelemetry.context.propagation.ContextPropagators.create(
                        io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator.getInstance()))
                .build();
        var otelTracer = sdk.getTracer("test");
        var current = new io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext();
        var tracer = new io.micrometer.tracing.otel.bridge.OtelTracer(otelTracer, current, event -> {});
        var propagator = new io.micrometer.tracing.otel.bridge.OtelPropagator(sdk.getPropagators(), otelTracer);
        ObservationRegistry registry = ObservationRegistry.create();
        registry.observationConfig()
                .observationHandler(new ObservationHandler.FirstMatchingCompositeObservationHandler(
                        new io.micrometer.tracing.handler.PropagatingSenderTracingObservationHandler<>(
                                tracer, propagator),
                        new io.micrometer.tracing.handler.PropagatingReceiverTracingObservationHandler<>(
                                tracer, propagator),
                        new io.micrometer.tracing.handler.DefaultTracingObservationHandler(tracer)));
        String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        runner.withBean(ObservationRegistry.class, () -> registry)
                .withPropertyValues("openai.proxy.api-key=" + KEY, "openai.proxy.base-url=" + upstream.baseUrl())
                .run(context -> {
                    // What Boot's HTTP server observation does for the incoming request.
                    io.micrometer.observation.transport.ReceiverContext<java.util.Map<String, String>> incoming =
                            new io.micrometer.observation.transport.ReceiverContext<>(java.util.Map::get);
                    incoming.setCarrier(java.util.Map.of("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01"));
                    Observation server = Observation.createNotStarted("http.server.requests", () -> incoming, registry)
                            .start();
                    try (Observation.Scope scope = server.openScope()) {
                        TestBodies.text(
                                context.getBean(ProxyEngine.class),
                                ProxyRequest.builder("POST", "/v1/chat/completions")
                                        .header("Content-Type", "application/json")
                                        .body("{\"model\":\"gpt-4o\",\"messages\":[]}".getBytes(StandardCharsets.UTF_8))
                                        .build());
                    } finally {
                        server.stop();
                    }
                });
        var finished = spans.getFinishedSpanItems();
        var serverSpan = finished.stream()
                .filter(s -> s.getName().equals("http.server.requests"))
                .findFirst()
                .orElseThrow();
        var request = finished.stream()
                .filter(s ->
                        s.getName().equals("chat gpt-4o") && s.getKind() != io.opentelemetry.api.trace.SpanKind.CLIENT)
                .findFirst()
                .orElseThrow(() -> new AssertionError(finished.toString()));
        var attempt = finished.stream()
                .filter(s -> s.getKind() == io.opentelemetry.api.trace.SpanKind.CLIENT)
                .findFirst()
                .orElseThrow(() -> new AssertionError(finished.toString()));
        assertThat(finished).allSatisfy(s -> assertThat(s.getTraceId()).isEqualTo(traceId));
        assertThat(request.getParentSpanId()).isEqualTo(serverSpan.getSpanId());
        assertThat(attempt.getParentSpanId()).isEqualTo(request.getSpanId());
        assertThat(attempt.getName()).isEqualTo("chat gpt-4o");
        assertThat(request.getAttributes()
                        .get(io.opentelemetry.api.common.AttributeKey.stringKey("gen_ai.operation.name")))
                .isEqualTo("chat");
        var sent = upstream.findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))
                .get(0);
        assertThat(sent.getHeader("traceparent")).startsWith("00-" + traceId + "-" + attempt.getSpanId() + "-");
        sdk.close();
    }

    /**
     * A caller's {@code baggage}, which Boot's server observation takes in along with its trace context (the W3C
     * baggage propagator is on by default), never reaches the upstream: it is text a browser wrote, and the
     * upstream is a third party. The trace context still does.
     */
    @Test
    void withTheOpenTelemetryBridgeTheCallersBaggageNeverReachesTheUpstream() {
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}")));
        io.opentelemetry.sdk.OpenTelemetrySdk sdk = io.opentelemetry.sdk.OpenTelemetrySdk.builder()
                .setTracerProvider(
                        io.opentelemetry.sdk.trace.SdkTracerProvider.builder().build())
                .setPropagators(io.opentelemetry.context.propagation.ContextPropagators.create(
                        io.opentelemetry.context.propagation.TextMapPropagator.composite(
                                io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator.getInstance(),
                                io.opentelemetry.api.baggage.propagation.W3CBaggagePropagator.getInstance())))
                .build();
        var otelTracer = sdk.getTracer("test");
        var current = new io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext();
        var tracer = new io.micrometer.tracing.otel.bridge.OtelTracer(otelTracer, current, event -> {});
        var propagator = new io.micrometer.tracing.otel.bridge.OtelPropagator(sdk.getPropagators(), otelTracer);
        ObservationRegistry registry = ObservationRegistry.create();
        registry.observationConfig()
                .observationHandler(new ObservationHandler.FirstMatchingCompositeObservationHandler(
                        new io.micrometer.tracing.handler.PropagatingSenderTracingObservationHandler<>(
                                tracer, propagator),
                        new io.micrometer.tracing.handler.PropagatingReceiverTracingObservationHandler<>(
                                tracer, propagator),
                        new io.micrometer.tracing.handler.DefaultTracingObservationHandler(tracer)));
        String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        runner.withBean(ObservationRegistry.class, () -> registry)
                .withPropertyValues("openai.proxy.api-key=" + KEY, "openai.proxy.base-url=" + upstream.baseUrl())
                .run(context -> {
                    io.micrometer.observation.transport.ReceiverContext<java.util.Map<String, String>> incoming =
                            new io.micrometer.observation.transport.ReceiverContext<>(java.util.Map::get);
                    incoming.setCarrier(java.util.Map.of(
                            "traceparent",
                            "00-" + traceId + "-00f067aa0ba902b7-01",
                            "baggage",
                            "user.email=victim%40example.com,session=sess-stolen-0123456789"));
                    Observation server = Observation.createNotStarted("http.server.requests", () -> incoming, registry)
                            .start();
                    try (Observation.Scope scope = server.openScope()) {
                        TestBodies.text(
                                context.getBean(ProxyEngine.class),
                                ProxyRequest.builder("POST", "/v1/chat/completions")
                                        .header("Content-Type", "application/json")
                                        .body("{\"model\":\"gpt-4o\",\"messages\":[]}".getBytes(StandardCharsets.UTF_8))
                                        .build());
                    } finally {
                        server.stop();
                    }
                });
        sdk.close();
        var sent = upstream.findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))
                .get(0);
        assertThat(sent.getHeader("traceparent")).startsWith("00-" + traceId + "-");
        assertThat(sent.containsHeader("baggage") ? sent.getHeader("baggage") : "")
                .isEmpty();
    }

    /**
     * With the OpenTelemetry bridge, a request whose upstream answered 500, and one the upstream broke off, end with
     * spans of status ERROR and their {@code error.type}: the request's (the GenAI operation's, inside the server
     * span) and the attempt's (a client span).
     */
    @Test
    void withTheOpenTelemetryBridgeAFailedRequestIsAnErrorSpan() {
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.containing("gpt-broken"))
                .willReturn(com.github.tomakehurst.wiremock.client.WireMock.serverError()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"down\"}}")));
        upstream.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.containing("gpt-gone"))
                .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                        .withFault(com.github.tomakehurst.wiremock.http.Fault.CONNECTION_RESET_BY_PEER)));
        io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter spans =
                io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter.create();
        io.opentelemetry.sdk.OpenTelemetrySdk sdk = io.opentelemetry.sdk.OpenTelemetrySdk.builder()
                .setTracerProvider(io.opentelemetry.sdk.trace.SdkTracerProvider.builder()
                        .addSpanProcessor(io.opentelemetry.sdk.trace.export.SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        var otelTracer = sdk.getTracer("test");
        var tracer = new io.micrometer.tracing.otel.bridge.OtelTracer(
                otelTracer, new io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext(), event -> {});
        ObservationRegistry registry = ObservationRegistry.create();
        registry.observationConfig()
                .observationHandler(new io.micrometer.tracing.handler.DefaultTracingObservationHandler(tracer));
        java.util.Map<String, Integer> statuses = new java.util.HashMap<>();
        runner.withBean(ObservationRegistry.class, () -> registry)
                .withPropertyValues("openai.proxy.api-key=" + KEY, "openai.proxy.base-url=" + upstream.baseUrl())
                .run(context -> {
                    for (String model : java.util.List.of("gpt-broken", "gpt-gone")) {
                        var answer = context.getBean(ProxyEngine.class)
                                .handle(ProxyRequest.builder("POST", "/v1/chat/completions")
                                        .header("Content-Type", "application/json")
                                        .body(("{\"model\":\"" + model + "\",\"messages\":[]}")
                                                .getBytes(StandardCharsets.UTF_8))
                                        .build())
                                .get(30, java.util.concurrent.TimeUnit.SECONDS);
                        statuses.put(model, answer.status());
                        TestBodies.read(answer);
                    }
                });
        var finished = spans.getFinishedSpanItems(); // before close: closing empties the exporter
        sdk.close();
        assertThat(statuses).containsEntry("gpt-broken", 500);
        assertThat(statuses.get("gpt-gone")).isGreaterThanOrEqualTo(500);
        // No upstream answered these models: the spans are named "chat" alone; the attempt has the model.
        java.util.Map<String, io.opentelemetry.sdk.trace.data.SpanData> requests = new java.util.HashMap<>();
        for (String model : java.util.List.of("gpt-broken", "gpt-gone")) {
            var attempt = finished.stream()
                    .filter(s -> model.equals(s.getAttributes()
                            .get(io.opentelemetry.api.common.AttributeKey.stringKey("gen_ai.request.model"))))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError(model + " in " + finished));
            var request = finished.stream()
                    .filter(s -> s.getSpanId().equals(attempt.getParentSpanId()))
                    .findFirst()
                    .orElseThrow();
            requests.put(model, request);
            var mine = java.util.List.of(request, attempt); // the request's and the attempt's
            assertThat(mine)
                    .extracting(io.opentelemetry.sdk.trace.data.SpanData::getName)
                    .containsOnly("chat");
            assertThat(mine)
                    .allSatisfy(s -> assertThat(s.getStatus().getStatusCode())
                            .as(s.getName() + " " + s.getKind())
                            .isEqualTo(io.opentelemetry.api.trace.StatusCode.ERROR));
        }
        var broken = requests.get("gpt-broken");
        assertThat(broken.getAttributes().get(io.opentelemetry.api.common.AttributeKey.stringKey("error.type")))
                .isEqualTo("500");
    }

    @Test
    void backsOffWithoutAnObservationRegistryOrMicrometer() {
        runner.run(context -> assertThat(context).doesNotHaveBean(ObservationProxyObserver.class));
        runner.withBean(ObservationRegistry.class, ObservationRegistry::create)
                .withClassLoader(new FilteredClassLoader(ObservationRegistry.class))
                .run(context -> assertThat(context).doesNotHaveBean(ObservationProxyObserver.class));
    }

    @Test
    void withoutAMeterRegistryTheObservationsStillWork() {
        runner.withBean(ObservationRegistry.class, TestObservationRegistry::create)
                .run(context -> {
                    assertThat(context).hasSingleBean(ObservationProxyObserver.class);
                    assertThat(context).doesNotHaveBean(GenAiMeters.class);
                });
    }

    /**
     * Made-up model names, one per request, name no span of their own even when the upstream answers every one (as
     * many OpenAI-compatible servers do): the names stay within the tag values' bound and the operation alone.
     */
    @Test
    void madeUpModelNamesNameNoSpanBeyondTheTagValuesBound() {
        upstream.stubFor(
                post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson("{\"id\":\"c\",\"choices\":[]}")));
        TestObservationRegistry registry = TestObservationRegistry.create();
        java.util.Set<String> names = java.util.concurrent.ConcurrentHashMap.newKeySet();
        registry.observationConfig().observationHandler(new ObservationHandler<>() {
            @Override
            public void onStop(Observation.Context context) {
                names.add(context.getContextualName());
            }

            @Override
            public boolean supportsContext(Observation.Context context) {
                return true;
            }
        });
        runner.withBean(ObservationRegistry.class, () -> registry)
                .withPropertyValues(
                        "openai.proxy.api-key=" + KEY,
                        "openai.proxy.base-url=" + upstream.baseUrl(),
                        "openai.proxy.metrics.max-model-tags=5")
                .run(context -> {
                    for (int i = 0; i < 30; i++) {
                        TestBodies.text(
                                context.getBean(ProxyEngine.class),
                                ProxyRequest.builder("POST", "/v1/chat/completions")
                                        .header("Content-Type", "application/json")
                                        .body(("{\"model\":\"made-up-" + java.util.UUID.randomUUID()
                                                        + "\",\"messages\":[]}")
                                                .getBytes(StandardCharsets.UTF_8))
                                        .build());
                    }
                });
        assertThat(names).contains("chat").hasSizeLessThanOrEqualTo(5 + 1);
    }

    /** Never a tag value from an unanswered client model (unbounded cardinality). */
    @Test
    void aModelNoUpstreamAnsweredIsNoTagValue() {
        TestObservationRegistry registry = TestObservationRegistry.create();
        ObservationProxyObserver observer = new ObservationProxyObserver(registry, null, 10);
        var o = observer.begin("POST", "/v1/chat/completions");
        o.routed("/v1/chat/completions", java.util.Optional.of("random-9f8e7d"));
        o.finished(404, false, io.github.openaiproxy.core.observe.Outcome.COMPLETED, java.time.Duration.ofMillis(3));
        TestObservationRegistryAssert.assertThat(registry)
                .hasObservationWithNameEqualTo(ObservationProxyObserver.REQUEST)
                .that()
                .hasLowCardinalityKeyValue("gen_ai.request.model", "other")
                .hasLowCardinalityKeyValue("error.type", "404");
        assertThat(observer.begin("GET", "/v1/models"))
                .isSameAs(io.github.openaiproxy.core.observe.ProxyObserver.Observation.NONE);
    }
}
