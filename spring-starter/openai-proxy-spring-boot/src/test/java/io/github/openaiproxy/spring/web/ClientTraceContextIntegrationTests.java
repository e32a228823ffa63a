package io.github.openaiproxy.spring.web;

import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.tracing.handler.DefaultTracingObservationHandler;
import io.micrometer.tracing.handler.PropagatingReceiverTracingObservationHandler;
import io.micrometer.tracing.handler.PropagatingSenderTracingObservationHandler;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelPropagator;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.api.baggage.propagation.W3CBaggagePropagator;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.extension.trace.propagation.B3Propagator;
import io.opentelemetry.extension.trace.propagation.JaegerPropagator;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Boot's own HTTP server observation ({@code http.server.requests}) with Micrometer Tracing, as Boot's tracing
 * set-up wires it: with {@code tracing.client-context=ignore} (the default) a client's {@code traceparent}, {@code
 * b3} and {@code baggage} decide neither the sampling nor the trace id of the server span of a request to the
 * proxy, wherever the proxy is mounted; the application's other routes keep Boot's behaviour, and {@code continue}
 * brings the client's trace back for the proxy's routes too.
 */
class ClientTraceContextIntegrationTests {
    private static final String CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String TRACEPARENT = "00-" + CLIENT_TRACE + "-00f067aa0ba902b7-01";
    private static final String B3_TRACE = "80f198ee56343ba864fe8b2a57d3eff7";
    private static final String B3 = B3_TRACE + "-e457b5a2e4d86bd1-1";
    /** A format Boot does not set up itself: hidden because the application's propagator names its header. */
    private static final String JAEGER_TRACE = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

    private static final String UBER_TRACE_ID = JAEGER_TRACE + ":0102030405060708:0:1";
    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

    static final WireMockServer upstream = Upstream.start();

    final HttpClient http = HttpClient.newHttpClient();

    /**
     * Micrometer Tracing's OpenTelemetry bridge behind Boot's observation registry: the handlers Boot's tracing
     * auto-configuration registers, with the W3C, baggage, B3 and Jaeger propagators, and every span kept in memory.
     */
    @Configuration(proxyBeanMethods = false)
    static class Tracing {
        @Bean
        InMemorySpanExporter spans() {
            return InMemorySpanExporter.create();
        }

        @Bean(destroyMethod = "close")
        OpenTelemetrySdk openTelemetry(InMemorySpanExporter spans) {
            return OpenTelemetrySdk.builder()
                    .setTracerProvider(SdkTracerProvider.builder()
                            .addSpanProcessor(SimpleSpanProcessor.create(spans))
                            .build())
                    .setPropagators(ContextPropagators.create(TextMapPropagator.composite(
                            W3CTraceContextPropagator.getInstance(),
                            W3CBaggagePropagator.getInstance(),
                            B3Propagator.injectingSingleHeader(),
                            JaegerPropagator.getInstance())))
                    .build();
        }

        @Bean
        OtelTracer tracer(OpenTelemetrySdk sdk) {
            return new OtelTracer(sdk.getTracer("test"), new OtelCurrentTraceContext(), event -> {});
        }

        @Bean
        OtelPropagator propagator(OpenTelemetrySdk sdk) {
            return new OtelPropagator(sdk.getPropagators(), sdk.getTracer("test"));
        }

        @Bean
        ObservationHandler<Observation.Context> tracingHandlers(OtelTracer tracer, OtelPropagator propagator) {
            return new ObservationHandler.FirstMatchingCompositeObservationHandler(
                    new PropagatingSenderTracingObservationHandler<>(tracer, propagator),
                    new PropagatingReceiverTracingObservationHandler<>(tracer, propagator),
                    new DefaultTracingObservationHandler(tracer));
        }
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @Test
    void belowAPathTheProxysServerSpanIgnoresTheClientsContextAndTheApplicationsRoutesKeepIt() throws Exception {
        try (ConfigurableApplicationContext app = start("openai.proxy.path=/ai")) {
            SpanData proxied = serverSpanOf(app, "/ai/v1/chat/completions");
            assertThat(proxied.getTraceId()).isNotIn(CLIENT_TRACE, B3_TRACE, JAEGER_TRACE);
            assertThat(proxied.getParentSpanContext().isValid()).isFalse();
            assertThat(lastUpstreamCall().getHeader("traceparent")).doesNotContain(CLIENT_TRACE);
            assertThat(lastUpstreamCall().containsHeader("baggage")).isFalse();

            assertThat(serverSpanOf(app, "/hello").getTraceId()).isIn(CLIENT_TRACE, B3_TRACE, JAEGER_TRACE);
        }
    }

    @Test
    void atTheRootTheProxysServerSpanIgnoresTheClientsContextAndTheApplicationsRoutesKeepIt() throws Exception {
        try (ConfigurableApplicationContext app = start()) {
            SpanData proxied = serverSpanOf(app, "/v1/chat/completions");
            assertThat(proxied.getTraceId()).isNotIn(CLIENT_TRACE, B3_TRACE, JAEGER_TRACE);
            assertThat(proxied.getParentSpanContext().isValid()).isFalse();

            assertThat(serverSpanOf(app, "/hello").getTraceId()).isIn(CLIENT_TRACE, B3_TRACE, JAEGER_TRACE);
            assertThat(serverSpanOf(app, "/").getTraceId()).isIn(CLIENT_TRACE, B3_TRACE, JAEGER_TRACE);
        }
    }

    @Test
    void withContinueTheProxysServerSpanContinuesTheClientsTrace() throws Exception {
        try (ConfigurableApplicationContext app =
                start("openai.proxy.path=/ai", "openai.proxy.tracing.client-context=continue")) {
            String trace = serverSpanOf(app, "/ai/v1/chat/completions").getTraceId();
            assertThat(trace).isIn(CLIENT_TRACE, B3_TRACE, JAEGER_TRACE);
            assertThat(lastUpstreamCall().getHeader("traceparent")).contains(trace);
        }
    }

    private ConfigurableApplicationContext start(String... properties) {
        List<String> all = new ArrayList<>(List.of(
                "server.port=0",
                "server.address=127.0.0.1",
                "openai.proxy.api-key=" + Upstream.KEY,
                "openai.proxy.base-url=http://127.0.0.1:" + upstream.port()));
        all.addAll(List.of(properties));
        return new SpringApplicationBuilder(HostApplication.class, Tracing.class)
                .properties(all.toArray(String[]::new))
                .run();
    }

    /**
     * Sends a request with a client's sampled W3C context, its B3 and Jaeger contexts and its baggage, and returns the server
     * span Boot's observation made of it (exported once the answer is complete).
     */
    private SpanData serverSpanOf(ConfigurableApplicationContext app, String path) throws Exception {
        InMemorySpanExporter spans = app.getBean(InMemorySpanExporter.class);
        spans.reset();
        int port = ((WebServerApplicationContext) app).getWebServer().getPort();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("traceparent", TRACEPARENT)
                .header("b3", B3)
                .header("uber-trace-id", UBER_TRACE_ID)
                .header("baggage", "user.email=victim%40example.com");
        if (path.contains("/v1/")) {
            request.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(CHAT));
        }
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return await().atMost(Duration.ofSeconds(10))
                .until(
                        () -> spans.getFinishedSpanItems().stream()
                                .filter(s -> s.getKind() == SpanKind.SERVER)
                                .findFirst(),
                        java.util.Optional::isPresent)
                .orElseThrow();
    }

    private LoggedRequest lastUpstreamCall() {
        List<LoggedRequest> calls = upstream.findAll(postRequestedFor(urlPathEqualTo("/v1/chat/completions")));
        return calls.get(calls.size() - 1);
    }
}
