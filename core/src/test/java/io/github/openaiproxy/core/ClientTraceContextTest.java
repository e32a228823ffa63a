package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.observe.otel.OpenTelemetryProxyObserver;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code tracing.client-context}: a client's {@code traceparent} says "sampled", and the proxy's sampler records
 * nothing of its own accord (parent-based, off for roots, as a gateway sampling a fraction has it for the rest).
 * By default the client's context is ignored, so it cannot have its requests recorded and exported; with {@code
 * continue} the proxy follows it, trace id and sampled flag.
 */
class ClientTraceContextTest {
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String CALLER_SPAN = "00f067aa0ba902b7";
    private static final String SAMPLED = "00-" + TRACE_ID + "-" + CALLER_SPAN + "-01";
    private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private final InMemorySpanExporter spans = InMemorySpanExporter.create();
    private final OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
            .setTracerProvider(SdkTracerProvider.builder()
                    .setSampler(Sampler.parentBased(Sampler.alwaysOff()))
                    .addSpanProcessor(SimpleSpanProcessor.create(spans))
                    .build())
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();

    @AfterEach
    void close() {
        otel.close();
    }

    /** Sends a chat completion with the client's sampled {@code traceparent}; returns what reached the upstream. */
    private LoggedRequest chatWithSampledContext(Map<String, String> settings) {
        upstream.server()
                .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                        .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}")));
        Map<String, String> s = new HashMap<>(settings);
        s.put("api-key", EngineFixture.SERVER_KEY);
        s.put("base-url", upstream.baseUrl().toString());
        try (ProxyEngine engine = ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .observer(OpenTelemetryProxyObserver.create(otel))
                .build()) {
            Answer answer = EngineFixture.send(
                    engine,
                    EngineFixture.post("/v1/chat/completions", CHAT)
                            .header("traceparent", SAMPLED)
                            .header("tracestate", "vendor=abc"));
            assertThat(answer.status()).isEqualTo(200);
        }
        List<LoggedRequest> sent = upstream.server().findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")));
        assertThat(sent).hasSize(1);
        return sent.get(0);
    }

    @Test
    void byDefaultAClientsSampledFlagRecordsNothingAndItsTraceIdGoesNowhere() {
        LoggedRequest sent = chatWithSampledContext(Map.of());

        assertThat(spans.getFinishedSpanItems())
                .as("the proxy's sampler decided alone: nothing recorded")
                .isEmpty();
        // The upstream gets the proxy's own (unsampled) trace, never the client's id or state.
        String traceparent = sent.getHeader("traceparent");
        assertThat(traceparent).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}");
        assertThat(Integer.parseInt(traceparent.substring(53), 16) & 1)
                .as("sampled flag")
                .isZero();
        assertThat(traceparent).doesNotContain(TRACE_ID);
        assertThat(sent.containsHeader("tracestate") ? sent.getHeader("tracestate") : "")
                .doesNotContain("vendor");
    }

    @Test
    void ignoreAlsoStartsTracesOfTheProxysOwnWhenItsSamplerRecords() {
        try (OpenTelemetrySdk always = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
                .build()) {
            upstream.server()
                    .stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                            .willReturn(okJson("{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}")));
            ProxyConfig config = EngineFixture.config(upstream.baseUrl())
                    .clientTraceContext(io.github.openaiproxy.core.observe.ClientTraceContext.IGNORE)
                    .build();
            try (ProxyEngine engine = ProxyEngine.builder(config)
                    .observer(OpenTelemetryProxyObserver.create(always))
                    .build()) {
                EngineFixture.send(
                        engine, EngineFixture.post("/v1/chat/completions", CHAT).header("traceparent", SAMPLED));
            }
            SpanData request = spans.getFinishedSpanItems().stream()
                    .filter(sp -> sp.getKind() == SpanKind.SERVER)
                    .findFirst()
                    .orElseThrow();
            assertThat(request.getTraceId()).isNotEqualTo(TRACE_ID);
            assertThat(request.getParentSpanContext().isValid()).isFalse();
        }
    }

    @Test
    void continueFollowsTheClientsTraceAndItsSampledFlag() {
        LoggedRequest sent = chatWithSampledContext(Map.of("tracing.client-context", "continue"));

        List<SpanData> finished = spans.getFinishedSpanItems();
        SpanData request = finished.stream()
                .filter(sp -> sp.getKind() == SpanKind.SERVER)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no request span among " + finished));
        assertThat(request.getTraceId()).isEqualTo(TRACE_ID);
        assertThat(request.getParentSpanId()).isEqualTo(CALLER_SPAN);
        SpanData attempt = finished.stream()
                .filter(sp -> sp.getKind() == SpanKind.CLIENT)
                .findFirst()
                .orElseThrow();
        assertThat(sent.getHeader("traceparent")).isEqualTo("00-" + TRACE_ID + "-" + attempt.getSpanId() + "-01");
    }
}
