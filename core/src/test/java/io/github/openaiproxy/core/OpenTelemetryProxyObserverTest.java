package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.observe.ClientTraceContext;
import io.github.openaiproxy.core.observe.otel.OpenTelemetryProxyObserver;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import io.opentelemetry.api.baggage.propagation.W3CBaggagePropagator;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.metrics.data.HistogramPointData;
import io.opentelemetry.sdk.metrics.data.MetricData;
import io.opentelemetry.sdk.testing.exporter.InMemoryMetricReader;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The OpenTelemetry observer on a real engine and a WireMock upstream, read back through the SDK's in-memory
 * exporters: the GenAI conventions' span names, parents, kinds and attributes, the token and duration metrics,
 * and the W3C trace context that reaches the upstream with the caller's trace id ({@code tracing.client-context=
 * continue}; {@link ClientTraceContextTest} has the default); never a key or any content.
 */
class OpenTelemetryProxyObserverTest {
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String CALLER_SPAN = "00f067aa0ba902b7";
    private static final String TRACEPARENT = "00-" + TRACE_ID + "-" + CALLER_SPAN + "-01";
    private static final String FIRST_KEY = "sk-first-0123456789abcdefghijklmnop";
    private static final String AZURE_KEY = "azure-key-0123456789abcdefghijklmnop";
    private static final String PROMPT = "the secret prompt text";
    private static final String CHAT =
            "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]}";
    private static final String ANSWER = "the private completion";

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private final InMemorySpanExporter spans = InMemorySpanExporter.create();
    private final InMemoryMetricReader metrics = InMemoryMetricReader.create();
    private final OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
            .setTracerProvider(SdkTracerProvider.builder()
                    .addSpanProcessor(SimpleSpanProcessor.create(spans))
                    .build())
            .setMeterProvider(
                    SdkMeterProvider.builder().registerMetricReader(metrics).build())
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();

    @AfterEach
    void close() {
        otel.close();
    }

    private ProxyEngine namedEngine() {
        Map<String, String> s = new java.util.HashMap<>();
        s.put("upstreams.first.base-url", upstream.baseUrl().toString());
        s.put("upstreams.first.keys", FIRST_KEY);
        s.put("upstreams.first.models", "gpt-4o");
        s.put("upstreams.first.retries", "0");
        s.put("upstreams.first.fallback", "azure:prod-gpt4o");
        s.put("upstreams.azure.kind", "azure");
        s.put("upstreams.azure.base-url", upstream.baseUrl().toString());
        s.put("upstreams.azure.keys", AZURE_KEY);
        s.put("upstreams.azure.api-version", "2024-10-21");
        s.put("tracing.client-context", "continue");
        return ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build();
    }

    @Test
    void aRequestSpanContinuesTheCallersTraceWithOneClientSpanPerAttemptAndTheTraceGoesUpstream() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(aResponse().withStatus(429).withBody("{\"error\":{\"code\":\"rate_limit\"}}")));
        upstream.server()
                .stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                        .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"message\":"
                                + "{\"content\":\"" + ANSWER + "\"}}],\"usage\":{\"prompt_tokens\":11,"
                                + "\"completion_tokens\":7,\"total_tokens\":18}}")));

        Answer answer;
        try (ProxyEngine engine = namedEngine()) {
            answer = EngineFixture.send(
                    engine,
                    EngineFixture.post("/v1/chat/completions", CHAT)
                            .header("traceparent", TRACEPARENT)
                            .header("tracestate", "vendor=abc"));
        }
        assertThat(answer.status()).isEqualTo(200);

        List<SpanData> finished = spans.getFinishedSpanItems();
        assertThat(finished).hasSize(3);
        SpanData request = one(finished, "chat gpt-4o", SpanKind.SERVER);
        assertThat(request.getTraceId()).isEqualTo(TRACE_ID);
        assertThat(request.getParentSpanId()).isEqualTo(CALLER_SPAN);
        assertThat(request.getAttributes().asMap())
                .containsEntry(AttributeKey.stringKey("gen_ai.operation.name"), "chat")
                .containsEntry(AttributeKey.stringKey("gen_ai.provider.name"), "azure.ai.openai")
                .containsEntry(AttributeKey.stringKey("gen_ai.request.model"), "gpt-4o")
                .containsEntry(AttributeKey.stringKey("gen_ai.response.model"), "gpt-4o-2024-08-06")
                .containsEntry(AttributeKey.longKey("gen_ai.usage.input_tokens"), 11L)
                .containsEntry(AttributeKey.longKey("gen_ai.usage.output_tokens"), 7L);

        // The refused attempt ended before any success made gpt-4o a known model: its name is the operation's.
        SpanData refused = one(finished, "chat", SpanKind.CLIENT);
        SpanData served = one(finished, "chat prod-gpt4o", SpanKind.CLIENT);
        for (SpanData attempt : List.of(refused, served)) {
            assertThat(attempt.getTraceId()).isEqualTo(TRACE_ID);
            assertThat(attempt.getParentSpanId()).isEqualTo(request.getSpanId());
        }
        assertThat(refused.getAttributes().asMap())
                .containsEntry(AttributeKey.stringKey("gen_ai.provider.name"), "openai")
                .containsEntry(AttributeKey.stringKey("openai_proxy.upstream"), "first")
                .containsEntry(AttributeKey.longKey("http.response.status_code"), 429L)
                .containsEntry(AttributeKey.stringKey("error.type"), "429");
        assertThat(refused.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(served.getAttributes().asMap())
                .containsEntry(AttributeKey.stringKey("gen_ai.provider.name"), "azure.ai.openai")
                .containsEntry(AttributeKey.stringKey("openai_proxy.upstream"), "azure")
                .containsEntry(AttributeKey.stringKey("gen_ai.request.model"), "prod-gpt4o")
                .containsEntry(AttributeKey.longKey("gen_ai.usage.input_tokens"), 11L)
                .containsEntry(AttributeKey.longKey("gen_ai.usage.output_tokens"), 7L)
                .doesNotContainKey(AttributeKey.stringKey("error.type"));

        // Each upstream got the trace context of its own attempt: the caller's trace id, the attempt as parent.
        LoggedRequest toFirst = upstream.server()
                .findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))
                .get(0);
        LoggedRequest toAzure = upstream.server()
                .findAll(postRequestedFor(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions")))
                .get(0);
        assertThat(toFirst.getHeader("traceparent")).startsWith("00-" + TRACE_ID + "-" + refused.getSpanId() + "-");
        assertThat(toAzure.getHeader("traceparent")).startsWith("00-" + TRACE_ID + "-" + served.getSpanId() + "-");
        assertThat(toAzure.getHeader("tracestate")).isEqualTo("vendor=abc");
        // The proxy's own headers were not touched.
        assertThat(toAzure.getHeader("api-key")).isEqualTo(AZURE_KEY);

        // Nothing secret or private in any attribute.
        for (SpanData span : finished) {
            assertThat(span.getAttributes().asMap().values().toString())
                    .doesNotContain(FIRST_KEY)
                    .doesNotContain(AZURE_KEY)
                    .doesNotContain(PROMPT)
                    .doesNotContain(ANSWER)
                    .doesNotContain(upstream.baseUrl().getHost() + ":"
                            + upstream.baseUrl().getPort());
        }

        Collection<MetricData> data = metrics.collectAllMetrics();
        HistogramPointData duration = onlyPoint(data, "gen_ai.client.operation.duration");
        assertThat(duration.getCount()).isEqualTo(1);
        assertThat(duration.getAttributes())
                .isEqualTo(Attributes.builder()
                        .put("gen_ai.operation.name", "chat")
                        .put("gen_ai.provider.name", "azure.ai.openai")
                        .put("gen_ai.request.model", "gpt-4o")
                        .put("gen_ai.response.model", "gpt-4o-2024-08-06")
                        .build());
        assertThat(metric(data, "gen_ai.client.operation.duration").getUnit()).isEqualTo("s");
        MetricData tokens = metric(data, "gen_ai.client.token.usage");
        assertThat(tokens.getUnit()).isEqualTo("{token}");
        assertThat(tokens.getHistogramData().getPoints())
                .extracting(p -> p.getAttributes().get(AttributeKey.stringKey("gen_ai.token.type")), p -> p.getSum())
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple("input", 11.0),
                        org.assertj.core.groups.Tuple.tuple("output", 7.0));
    }

    /**
     * A stream that ends before its first event (only a comment came) is a failed attempt: its span ends with
     * {@code error.type} {@code broken} beside its 200, and the fallback's attempt serves the stream.
     */
    @Test
    void aStreamBrokenBeforeItsFirstEventEndsItsAttemptSpanAsFailedAndTheFallbackServes() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(": keep-alive\n\n")));
        upstream.server()
                .stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody("data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"
                                        + "\n\ndata: [DONE]\n\n")));

        Answer answer;
        try (ProxyEngine engine = namedEngine()) {
            answer = EngineFixture.send(
                    engine,
                    EngineFixture.post(
                            "/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}"));
        }

        assertThat(answer.status()).isEqualTo(200);
        assertThat(answer.header("OpenAI-Proxy-Attempts")).isEqualTo("first broken, azure 200");
        List<SpanData> finished = spans.getFinishedSpanItems();
        assertThat(finished).hasSize(3);
        SpanData broken = finished.stream()
                .filter(sp -> "first".equals(sp.getAttributes().get(AttributeKey.stringKey("openai_proxy.upstream"))))
                .findFirst()
                .orElseThrow();
        assertThat(broken.getKind()).isEqualTo(SpanKind.CLIENT);
        assertThat(broken.getAttributes().asMap())
                .containsEntry(AttributeKey.longKey("http.response.status_code"), 200L)
                .containsEntry(AttributeKey.stringKey("error.type"), "broken");
        assertThat(broken.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        SpanData served = one(finished, "chat prod-gpt4o", SpanKind.CLIENT);
        assertThat(served.getAttributes().asMap()).doesNotContainKey(AttributeKey.stringKey("error.type"));
    }

    @Test
    void aStreamOfTheDefaultUpstreamRecordsTheTimeToFirstTokenAndItsAttemptSpanCarriesTheTrace() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(
                                        "data: {\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"
                                                + "\n\ndata: {\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{"
                                                + "\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n"
                                                + "data: [DONE]\n\n")));
        Answer answer;
        try (ProxyEngine engine = ProxyEngine.builder(
                        EngineFixture.config(upstream.baseUrl()).build())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build()) {
            answer = EngineFixture.send(
                    engine,
                    EngineFixture.post(
                            "/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[]}"));
        }
        assertThat(answer.status()).isEqualTo(200);

        List<SpanData> finished = spans.getFinishedSpanItems();
        SpanData request = one(finished, "chat gpt-4o-mini", SpanKind.SERVER);
        SpanData attempt = one(finished, "chat gpt-4o-mini", SpanKind.CLIENT);
        assertThat(request.getParentSpanContext().isValid()).isFalse(); // no caller trace: a root
        assertThat(attempt.getParentSpanId()).isEqualTo(request.getSpanId());
        assertThat(attempt.getAttributes().get(AttributeKey.stringKey("openai_proxy.upstream")))
                .isEqualTo("openai");
        assertThat(attempt.getAttributes().get(AttributeKey.longKey("gen_ai.usage.output_tokens")))
                .isEqualTo(2L);
        LoggedRequest sent = upstream.server()
                .findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))
                .get(0);
        assertThat(sent.getHeader("traceparent"))
                .startsWith("00-" + request.getTraceId() + "-" + attempt.getSpanId() + "-");

        Collection<MetricData> data = metrics.collectAllMetrics();
        HistogramPointData firstToken = onlyPoint(data, "gen_ai.server.time_to_first_token");
        assertThat(firstToken.getCount()).isEqualTo(1);
        assertThat(firstToken.getAttributes().get(AttributeKey.stringKey("gen_ai.response.model")))
                .isEqualTo("gpt-4o-mini");
        assertThat(onlyPoint(data, "gen_ai.client.operation.duration")
                        .getAttributes()
                        .get(AttributeKey.stringKey("gen_ai.provider.name")))
                .isEqualTo("openai");
    }

    @Test
    void aStreamWhoseUsageTheProxyAskedForCarriesItOnItsSpansAndTokenMetric() {
        // A ledger is on and the client did not ask for usage: the proxy asks, takes the usage chunk out of the
        // client's stream, and still reports the upstream's numbers.
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .withRequestBody(matchingJsonPath("$.stream_options.include_usage", equalTo("true")))
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "text/event-stream")
                                .withBody(
                                        "data: {\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],"
                                                + "\"usage\":null}\n\ndata: {\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{"
                                                + "\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n"
                                                + "data: [DONE]\n\n")));
        Answer answer;
        try (ProxyEngine engine = ProxyEngine.builder(
                        EngineFixture.config(upstream.baseUrl()).build())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .usageLedger(record -> {})
                .build()) {
            answer = EngineFixture.send(
                    engine,
                    EngineFixture.post(
                            "/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[]}"));
        }
        assertThat(answer.status()).isEqualTo(200);
        assertThat(answer.text()).doesNotContain("usage");

        SpanData request = one(spans.getFinishedSpanItems(), "chat gpt-4o-mini", SpanKind.SERVER);
        assertThat(request.getAttributes().get(AttributeKey.longKey("gen_ai.usage.input_tokens")))
                .isEqualTo(5L);
        assertThat(request.getAttributes().get(AttributeKey.longKey("gen_ai.usage.output_tokens")))
                .isEqualTo(2L);
        assertThat(metrics.collectAllMetrics())
                .filteredOn(m -> m.getName().equals("gen_ai.client.token.usage"))
                .singleElement()
                .satisfies(m -> assertThat(m.getHistogramData().getPoints()).hasSize(2));
    }

    @Test
    void aSubRequestOfAModuleRouteContinuesItsCallersTrace() throws Exception {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{"
                                + "\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}")));
        try (ProxyEngine engine = ProxyEngine.builder(EngineFixture.config(upstream.baseUrl())
                        .clientTraceContext(ClientTraceContext.CONTINUE)
                        .build())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build()) {
            // What GraphQL's getAIResponse sends through the proxy's own routes, with its caller's trace context.
            Answer answer = Answer.of(engine.handleSubRequest(
                            EngineFixture.post("/v1/chat/completions", CHAT)
                                    .header("traceparent", TRACEPARENT)
                                    .build(),
                            io.github.openaiproxy.core.access.Identity.anonymous(
                                    "192.0.2.1", io.github.openaiproxy.core.access.Policy.ANONYMOUS))
                    .get(30, java.util.concurrent.TimeUnit.SECONDS));
            assertThat(answer.status()).isEqualTo(200);
        }
        SpanData request = one(spans.getFinishedSpanItems(), "chat gpt-4o", SpanKind.SERVER);
        assertThat(request.getTraceId()).isEqualTo(TRACE_ID);
        assertThat(request.getParentSpanId()).isEqualTo(CALLER_SPAN);
    }

    @Test
    void aClientsUnknownModelIsNoMetricAttributeAndOtherRoutesAreNotObserved() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(
                                aResponse().withStatus(404).withBody("{\"error\":{\"code\":\"model_not_found\"}}")));
        upstream.server()
                .stubFor(com.github.tomakehurst.wiremock.client.WireMock.get(urlPathEqualTo("/v1/models"))
                        .willReturn(okJson("{\"data\":[]}")));
        try (ProxyEngine engine = ProxyEngine.builder(
                        EngineFixture.config(upstream.baseUrl()).build())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build()) {
            EngineFixture.send(
                    engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"x-1\",\"messages\":[]}"));
            EngineFixture.send(engine, EngineFixture.get("/v1/models"));
        }
        List<SpanData> finished = spans.getFinishedSpanItems();
        // none for /v1/models; a model no upstream answered is no part of a span's name, only of its attributes
        assertThat(finished).extracting(SpanData::getName).containsOnly("chat");
        SpanData request = one(finished, "chat", SpanKind.SERVER);
        assertThat(request.getAttributes().get(AttributeKey.stringKey("gen_ai.request.model")))
                .isEqualTo("x-1");
        // A 4xx is the caller's: the server span's status stays unset (HTTP conventions), its error.type says 404,
        // and the attempt's client span, whose call failed, is ERROR.
        assertThat(request.getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);
        assertThat(request.getAttributes().get(AttributeKey.stringKey("error.type")))
                .isEqualTo("404");
        assertThat(one(finished, "chat", SpanKind.CLIENT).getStatus().getStatusCode())
                .isEqualTo(StatusCode.ERROR);
        HistogramPointData duration = onlyPoint(metrics.collectAllMetrics(), "gen_ai.client.operation.duration");
        assertThat(duration.getAttributes().get(AttributeKey.stringKey("gen_ai.request.model")))
                .isEqualTo("_OTHER");
        assertThat(duration.getAttributes().get(AttributeKey.stringKey("error.type")))
                .isEqualTo("404");
    }

    /**
     * A caller's trace context that is no valid one (malformed, or 10 KB) is ignored: the request span starts a
     * trace of its own, and the upstream gets the proxy's attempt context, never the caller's text.
     */
    @Test
    void aMalformedOrHugeTraceContextStartsATraceOfItsOwnAndNeverGoesUpstream() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}")));
        String huge = "00-" + TRACE_ID + "-" + CALLER_SPAN + "-01" + "-x".repeat(5000);
        List<String[]> contexts = List.of(
                new String[] {"00-" + TRACE_ID + "-" + CALLER_SPAN, "vendor=abc"}, // no flags
                new String[] {"ff-" + TRACE_ID + "-" + CALLER_SPAN + "-01", "vendor=abc"}, // a forbidden version
                new String[] {"00-" + "0".repeat(32) + "-" + CALLER_SPAN + "-01", "vendor=abc"}, // the invalid id
                new String[] {huge, "vendor=" + "v".repeat(10_000)});
        try (ProxyEngine engine = ProxyEngine.builder(EngineFixture.config(upstream.baseUrl())
                        .clientTraceContext(ClientTraceContext.CONTINUE)
                        .build())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build()) {
            for (String[] c : contexts) {
                Answer answer = EngineFixture.send(
                        engine,
                        EngineFixture.post("/v1/chat/completions", CHAT)
                                .header("traceparent", c[0])
                                .header("tracestate", c[1]));
                assertThat(answer.status()).isEqualTo(200);
            }
        }
        List<SpanData> requests = spans.getFinishedSpanItems().stream()
                .filter(sp -> sp.getKind() == SpanKind.SERVER)
                .toList();
        assertThat(requests).hasSize(contexts.size());
        for (SpanData request : requests) {
            assertThat(request.getParentSpanContext().isValid()).isFalse();
            assertThat(request.getTraceId()).isNotEqualTo(TRACE_ID);
        }
        for (LoggedRequest sent : upstream.server().findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))) {
            assertThat(sent.getHeader("traceparent")).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}");
            assertThat(sent.getHeader("traceparent")).doesNotContain(TRACE_ID);
            assertThat(sent.containsHeader("tracestate") ? sent.getHeader("tracestate") : "")
                    .doesNotContain("vendor");
        }
    }

    /**
     * Model names a client makes up (one per request, 10 KB, with CR/LF) name no span and no metric point of their
     * own, whether the upstream refuses them or, as many OpenAI-compatible servers do, answers any name: span
     * names and attribute sets stay within the {@value OpenTelemetryProxyObserver#MAX_MODELS} known models.
     */
    @Test
    void madeUpModelNamesNeitherNameSpansNorGrowTheMetricsWithoutBound() {
        // The worst case: an upstream that answers whatever model it is asked for.
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(okJson("{\"id\":\"c\",\"choices\":[]}")));
        java.util.List<String> models = new java.util.ArrayList<>();
        for (int i = 0; i < OpenTelemetryProxyObserver.MAX_MODELS + 50; i++) {
            models.add("made-up-" + java.util.UUID.randomUUID());
        }
        models.add("x".repeat(10_000));
        models.add("evil\r\nINFO forged line");
        try (ProxyEngine engine = ProxyEngine.builder(
                        EngineFixture.config(upstream.baseUrl()).build())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build()) {
            for (String model : models) {
                String body = "{\"model\":\""
                        + new String(com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance()
                                .quoteAsString(model))
                        + "\",\"messages\":[]}";
                assertThat(EngineFixture.send(engine, EngineFixture.post("/v1/chat/completions", body))
                                .status())
                        .isLessThan(500);
            }
        }
        List<SpanData> finished = spans.getFinishedSpanItems();
        assertThat(finished).hasSizeGreaterThan(2 * OpenTelemetryProxyObserver.MAX_MODELS);
        java.util.Set<String> names =
                finished.stream().map(SpanData::getName).collect(java.util.stream.Collectors.toSet());
        assertThat(names).hasSizeLessThanOrEqualTo(OpenTelemetryProxyObserver.MAX_MODELS + 1);
        assertThat(names).allSatisfy(n -> assertThat(n).hasSizeLessThan(140).doesNotContain("\n", "\r"));
        assertThat(names).contains("chat");
        // The known models, and _OTHER with and without an error.type (a body too large for the proxy).
        int points = metric(metrics.collectAllMetrics(), "gen_ai.client.operation.duration")
                .getHistogramData()
                .getPoints()
                .size();
        assertThat(points).isLessThanOrEqualTo(OpenTelemetryProxyObserver.MAX_MODELS + 3);
    }

    /**
     * A browser's {@code baggage} is text an untrusted client wrote: the proxy takes its trace context (the proxy's
     * own span is the upstream's parent) but never hands its baggage to the upstream, even with the baggage
     * propagator on (as the SDK's autoconfiguration has it by default).
     */
    @Test
    void aCallersBaggageNeverGoesUpstream() {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}")));
        try (OpenTelemetrySdk withBaggage = OpenTelemetrySdk.builder()
                        .setTracerProvider(SdkTracerProvider.builder()
                                .addSpanProcessor(SimpleSpanProcessor.create(spans))
                                .build())
                        .setPropagators(ContextPropagators.create(TextMapPropagator.composite(
                                W3CTraceContextPropagator.getInstance(), W3CBaggagePropagator.getInstance())))
                        .build();
                ProxyEngine engine = ProxyEngine.builder(EngineFixture.config(upstream.baseUrl())
                                .clientTraceContext(ClientTraceContext.CONTINUE)
                                .build())
                        .observer(OpenTelemetryProxyObserver.create(withBaggage))
                        .build()) {
            Answer answer = EngineFixture.send(
                    engine,
                    EngineFixture.post("/v1/chat/completions", CHAT)
                            .header("traceparent", TRACEPARENT)
                            .header("baggage", "user.email=victim%40example.com,session=sess-stolen-0123456789"));
            assertThat(answer.status()).isEqualTo(200);
            // Read before the SDK closes: closing its exporter forgets the spans.
            SpanData attempt = one(spans.getFinishedSpanItems(), "chat gpt-4o", SpanKind.CLIENT);
            LoggedRequest sent = upstream.server()
                    .findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")))
                    .get(0);
            assertThat(sent.getHeader("traceparent")).startsWith("00-" + TRACE_ID + "-" + attempt.getSpanId() + "-");
            assertThat(sent.containsHeader("baggage") ? sent.getHeader("baggage") : "")
                    .isEmpty();
        }
    }

    private static SpanData one(List<SpanData> spans, String name, SpanKind kind) {
        List<SpanData> matching = spans.stream()
                .filter(s -> s.getName().equals(name) && s.getKind() == kind)
                .toList();
        assertThat(matching).as(kind + " span '" + name + "' among " + spans).hasSize(1);
        return matching.get(0);
    }

    private static MetricData metric(Collection<MetricData> data, String name) {
        return data.stream()
                .filter(m -> m.getName().equals(name))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no metric " + name + " in " + data));
    }

    private static HistogramPointData onlyPoint(Collection<MetricData> data, String name) {
        Collection<HistogramPointData> points =
                metric(data, name).getHistogramData().getPoints();
        assertThat(points).hasSize(1);
        return points.iterator().next();
    }
}
