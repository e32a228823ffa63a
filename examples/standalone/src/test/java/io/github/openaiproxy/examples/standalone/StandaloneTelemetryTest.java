package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * The server's OpenTelemetry over real HTTP: off without any {@code OTEL_*} variable; with
 * {@code OTEL_TRACES_EXPORTER} set, the GenAI spans are exported through the SDK's autoconfigure (here to an
 * in-memory exporter chosen by name, as {@code otlp} would be) and, with {@code
 * OPENAI_PROXY_TRACING_CLIENT_CONTEXT=continue}, the caller's trace continues to the upstream.
 */
class StandaloneTelemetryTest {
    private static final String TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
    private static final String CALLER_SPAN = "b7ad6b7169203331";
    private static final String KEY = "sk-telemetry-0123456789abcdefghijklmnop";

    @Test
    void noOtelVariableNoTelemetryAndTheSdkCanBeTurnedOff() {
        assertThat(Telemetry.fromEnvironment(Map.of("OPENAI_API_KEY", KEY))).isEmpty();
        assertThat(Telemetry.fromEnvironment(Map.of("OTEL_SERVICE_NAME", "x"))).isEmpty();
        assertThat(Telemetry.fromEnvironment(Map.of("OTEL_TRACES_EXPORTER", "otlp", "OTEL_SDK_DISABLED", "true")))
                .isEmpty();
    }

    /**
     * The README's set-up, {@code OTEL_EXPORTER_OTLP_ENDPOINT} alone: the SDK's own default protocol is gRPC, whose
     * sender the server does not bundle, so without the server's default of {@code http/protobuf} it would not start.
     */
    @Test
    void theEndpointAloneExportsOtlpOverHttpToTheCollector() throws Exception {
        List<String> posts = new CopyOnWriteArrayList<>();
        HttpServer collector = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        collector.createContext("/", exchange -> {
            exchange.getRequestBody().readAllBytes();
            posts.add(exchange.getRequestURI().getPath() + " "
                    + exchange.getRequestHeaders().getFirst("Content-Type"));
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        collector.start();
        HttpServer upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        upstream.createContext("/v1/chat/completions", exchange -> {
            exchange.getRequestBody().readAllBytes();
            byte[] body = "{\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[]}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        upstream.start();
        HttpResponse<String> r;
        try {
            StandaloneServer server = StandaloneServer.start(
                    new StandaloneOptions(0, "127.0.0.1", false),
                    Map.of(
                            "OPENAI_API_KEY",
                            KEY,
                            "OPENAI_BASE_URL",
                            "http://127.0.0.1:" + upstream.getAddress().getPort(),
                            "OPENAI_PROXY_SESSIONS_STORE",
                            "memory",
                            "OTEL_EXPORTER_OTLP_ENDPOINT",
                            "http://127.0.0.1:" + collector.getAddress().getPort()));
            try {
                r = HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(URI.create(
                                                "http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
                                        .header("Content-Type", "application/json")
                                        .POST(HttpRequest.BodyPublishers.ofString(
                                                "{\"model\":\"gpt-4o-mini\",\"messages\":[]}"))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
            } finally {
                server.close(); // flushes the SDK: spans and metrics are exported
            }
        } finally {
            upstream.stop(0);
            collector.stop(0);
        }
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(posts).contains("/v1/traces application/x-protobuf", "/v1/metrics application/x-protobuf");
    }

    /**
     * A per-signal endpoint alone turns telemetry on, and over http/protobuf it is used as it is (no {@code
     * /v1/traces} added), as the specification has it.
     */
    @Test
    void aTracesEndpointAloneExportsTracesToItAsItIs() throws Exception {
        List<String> posts = new CopyOnWriteArrayList<>();
        HttpServer collector = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        collector.createContext("/", exchange -> {
            exchange.getRequestBody().readAllBytes();
            posts.add(exchange.getRequestURI().getPath());
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        collector.start();
        HttpServer upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        upstream.createContext("/v1/chat/completions", exchange -> {
            exchange.getRequestBody().readAllBytes();
            byte[] body = "{\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[]}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        upstream.start();
        HttpResponse<String> r;
        try {
            StandaloneServer server = StandaloneServer.start(
                    new StandaloneOptions(0, "127.0.0.1", false),
                    Map.of(
                            "OPENAI_API_KEY",
                            KEY,
                            "OPENAI_BASE_URL",
                            "http://127.0.0.1:" + upstream.getAddress().getPort(),
                            "OPENAI_PROXY_SESSIONS_STORE",
                            "memory",
                            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                            "http://127.0.0.1:" + collector.getAddress().getPort() + "/custom/spans"));
            try {
                r = HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(URI.create(
                                                "http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
                                        .header("Content-Type", "application/json")
                                        .POST(HttpRequest.BodyPublishers.ofString(
                                                "{\"model\":\"gpt-4o-mini\",\"messages\":[]}"))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
            } finally {
                server.close(); // flushes the SDK
            }
        } finally {
            upstream.stop(0);
            collector.stop(0);
        }
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(posts).containsOnly("/custom/spans");
    }

    /** A protocol whose sender is not bundled is a configuration error that says why, not the SDK's bare one. */
    @Test
    void grpcAskedForIsAConfigurationErrorNamingTheMissingSender() {
        assertThatThrownBy(() -> Telemetry.fromEnvironment(Map.of(
                        "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("OTEL_")
                .hasMessageContaining("GrpcSenderProvider");
    }

    @Test
    void aChatIsTracedFromTheCallerThroughTheProxyToTheUpstream() throws Exception {
        List<String> traceparents = new CopyOnWriteArrayList<>();
        HttpServer upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        upstream.createContext("/v1/chat/completions", exchange -> {
            traceparents.add(String.valueOf(exchange.getRequestHeaders().getFirst("traceparent")));
            exchange.getRequestBody().readAllBytes();
            byte[] body = ("{\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,"
                            + "\"completion_tokens\":6,\"total_tokens\":10}}")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        upstream.start();
        InMemoryExporterProvider.SPANS.reset();
        StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false),
                Map.of(
                        "OPENAI_API_KEY", KEY,
                        "OPENAI_BASE_URL",
                                "http://127.0.0.1:" + upstream.getAddress().getPort(),
                        "OPENAI_PROXY_SESSIONS_STORE", "memory",
                        "OPENAI_PROXY_TRACING_CLIENT_CONTEXT", "continue",
                        "OTEL_TRACES_EXPORTER", "test-memory",
                        "OTEL_METRICS_EXPORTER", "none"));
        HttpResponse<String> r;
        try {
            r = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(
                                            URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
                                    .header("Content-Type", "application/json")
                                    .header("traceparent", "00-" + TRACE_ID + "-" + CALLER_SPAN + "-01")
                                    .POST(HttpRequest.BodyPublishers.ofString(
                                            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                                                    + "\"content\":\"private words\"}]}"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
        } finally {
            server.close(); // shuts the SDK down: the batch of spans is exported
            upstream.stop(0);
        }
        assertThat(r.statusCode()).isEqualTo(200);

        List<SpanData> spans = InMemoryExporterProvider.SPANS.getFinishedSpanItems();
        SpanData request = spans.stream()
                .filter(s -> s.getKind() == SpanKind.SERVER)
                .findFirst()
                .orElseThrow();
        SpanData attempt = spans.stream()
                .filter(s -> s.getKind() == SpanKind.CLIENT)
                .findFirst()
                .orElseThrow();
        assertThat(request.getName()).isEqualTo("chat gpt-4o-mini");
        assertThat(request.getTraceId()).isEqualTo(TRACE_ID);
        assertThat(request.getParentSpanId()).isEqualTo(CALLER_SPAN);
        assertThat(request.getResource().getAttribute(AttributeKey.stringKey("service.name")))
                .isEqualTo("openai-proxy");
        assertThat(attempt.getParentSpanId()).isEqualTo(request.getSpanId());
        assertThat(attempt.getAttributes().get(AttributeKey.longKey("gen_ai.usage.output_tokens")))
                .isEqualTo(6L);
        assertThat(traceparents).singleElement().asString().startsWith("00-" + TRACE_ID + "-" + attempt.getSpanId());
        for (SpanData s : spans) {
            assertThat(s.getAttributes().asMap().values().toString())
                    .doesNotContain(KEY)
                    .doesNotContain("private words");
        }
    }

    /**
     * Span status as the HTTP server conventions have it: a 5xx answer and an upstream that broke off are ERROR on
     * the request's server span, with {@code error.type}; the upstream's 4xx, relayed, is the caller's and leaves the
     * server span's status unset (its {@code error.type} stays), while the attempt's client span is ERROR.
     */
    @Test
    void aServerErrorOrAnUpstreamFailureIsAnErrorSpanAndAClientErrorIsNot() throws Exception {
        HttpServer upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        upstream.createContext("/v1/chat/completions", exchange -> {
            String asked = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            if (asked.contains("gpt-gone")) {
                throw new IllegalStateException("the upstream breaks the connection off"); // no answer at all
            }
            int status = asked.contains("gpt-broken") ? 500 : 404;
            byte[] body = "{\"error\":{\"message\":\"no\"}}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        upstream.start();
        InMemoryExporterProvider.SPANS.reset();
        StandaloneServer server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false),
                Map.of(
                        "OPENAI_API_KEY", KEY,
                        "OPENAI_BASE_URL",
                                "http://127.0.0.1:" + upstream.getAddress().getPort(),
                        "OPENAI_PROXY_SESSIONS_STORE", "memory",
                        "OTEL_TRACES_EXPORTER", "test-memory",
                        "OTEL_METRICS_EXPORTER", "none"));
        Map<String, Integer> statuses = new java.util.LinkedHashMap<>();
        try {
            HttpClient http = HttpClient.newHttpClient();
            for (String model : List.of("gpt-broken", "gpt-missing", "gpt-gone")) {
                HttpResponse<String> r = http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(
                                        "{\"model\":\"" + model + "\",\"messages\":[]}"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                statuses.put(model, r.statusCode());
            }
        } finally {
            server.close(); // shuts the SDK down: the batch of spans is exported
            upstream.stop(0);
        }
        assertThat(statuses).containsEntry("gpt-broken", 500).containsEntry("gpt-missing", 404);
        assertThat(statuses.get("gpt-gone")).isGreaterThanOrEqualTo(500);

        List<SpanData> spans = InMemoryExporterProvider.SPANS.getFinishedSpanItems();
        SpanData broken = span(spans, "gpt-broken", SpanKind.SERVER);
        assertThat(broken.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(broken.getAttributes().get(AttributeKey.stringKey("error.type")))
                .isEqualTo("500");
        SpanData gone = span(spans, "gpt-gone", SpanKind.SERVER);
        assertThat(gone.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(gone.getAttributes().get(AttributeKey.stringKey("error.type")))
                .isEqualTo(String.valueOf(statuses.get("gpt-gone")));

        SpanData missing = span(spans, "gpt-missing", SpanKind.SERVER);
        assertThat(missing.getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);
        assertThat(missing.getAttributes().get(AttributeKey.stringKey("error.type")))
                .isEqualTo("404");
        assertThat(span(spans, "gpt-missing", SpanKind.CLIENT).getStatus().getStatusCode())
                .isEqualTo(StatusCode.ERROR);
    }

    /**
     * The span of a request for {@code model}: no upstream answered these models successfully, so their spans are
     * named {@code chat} alone (a client's made-up model names no span) and carry the model as an attribute.
     */
    private static SpanData span(List<SpanData> spans, String model, SpanKind kind) {
        return spans.stream()
                .filter(s -> s.getName().equals("chat")
                        && model.equals(s.getAttributes().get(AttributeKey.stringKey("gen_ai.request.model")))
                        && s.getKind() == kind)
                .findFirst()
                .orElseThrow(() -> new AssertionError(model + " " + kind + " in " + spans));
    }
}
