package io.github.openaiproxy.core;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The {@code /v1} pass-through path. The body goes upstream byte for byte; the only JSON work is
 * {@link ModelSniffer} reading the top-level {@code model} for metrics, with a streaming parser that stops
 * there. Compared here with what a full parse and re-serialization would cost, on a typical body and on a
 * body carrying a 256 KB base64 image with {@code model} last. Also the engine per request, without a
 * network: {@code POST /v1/chat/completions} and {@code POST /} through {@link ProxyEngine#handle} against an
 * in-memory upstream. In the package of the sniffer, which is package-private.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class PassThroughBenchmark {
    static final byte[] TYPICAL = StubBodies.chatRequest(false);
    static final byte[] LARGE_MODEL_LAST = largeBody();
    static final byte[] SIMPLE = StubBodies.simpleChatRequest();
    static final byte[] ANSWER = StubBodies.chatCompletion();

    private ProxyEngine engine;
    /** The same engine with an observer that wants details (as the Micrometer and OpenTelemetry ones do). */
    private ProxyEngine observed;

    private static byte[] largeBody() {
        byte[] image = new byte[192 * 1024];
        new java.util.Random(1).nextBytes(image);
        String b64 = Base64.getEncoder().encodeToString(image);
        return ("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in this"
                        + " picture?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
                        + b64 + "\"}}]}],\"max_tokens\":300,\"model\":\"gpt-4o-mini\"}")
                .getBytes(StandardCharsets.UTF_8);
    }

    @Setup(Level.Trial)
    public void setUp() {
        UpstreamClient canned = new UpstreamClient() {
            private final HttpHeaders headers = new HeaderMap()
                    .set("content-type", "application/json")
                    .set("content-length", Integer.toString(ANSWER.length))
                    .set("x-request-id", "req_123")
                    .set("openai-processing-ms", "1")
                    .build();

            @Override
            public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
                return CompletableFuture.completedFuture(new UpstreamResponse(200, headers, Bodies.responseOf(ANSWER)));
            }

            @Override
            public void close() {}
        };
        engine = ProxyEngine.create(ProxyConfig.builder().apiKey("sk-bench").build(), canned);
        ProxyObserver.Observation noted = new ProxyObserver.Observation() {};
        observed = ProxyEngine.builder(ProxyConfig.builder().apiKey("sk-bench").build())
                .upstreamClient(canned)
                .observer((method, path) -> noted)
                .build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        engine.close();
        observed.close();
    }

    @Benchmark
    public Optional<String> sniffModelTypical() {
        return ModelSniffer.model(TYPICAL);
    }

    @Benchmark
    public byte[] parseAndSerializeTypical() throws IOException {
        return Json.bytes(Json.parse(TYPICAL));
    }

    /** The limit step's reading of a typical body's model without a tree (the ledger alone needs no more). */
    @Benchmark
    public String requestJsonModelTypical() {
        return RequestJson.of(TYPICAL).text("model");
    }

    /** The same, through the tree (what a token or money limit's estimate parses anyway). */
    @Benchmark
    public String requestTreeModelTypical() {
        return RequestJson.of(Json.objectOrNull(TYPICAL)).text("model");
    }

    @Benchmark
    public Optional<String> sniffModelLargeModelLast() {
        return ModelSniffer.model(LARGE_MODEL_LAST);
    }

    @Benchmark
    public byte[] parseAndSerializeLargeModelLast() throws IOException {
        return Json.bytes(Json.parse(LARGE_MODEL_LAST));
    }

    /** One whole {@code POST /v1/chat/completions} through the engine, body relayed, no network. */
    @Benchmark
    public int engineV1PassThrough(Blackhole bh) {
        return exchange("/v1/chat/completions", TYPICAL, bh);
    }

    /** As {@link #engineV1PassThrough} with an observer that wants the answer's model and usage. */
    @Benchmark
    public int engineV1PassThroughObserved(Blackhole bh) {
        return exchange(observed, "/v1/chat/completions", TYPICAL, bh);
    }

    /** One whole {@code POST /} (parse, defaults, re-serialize) through the engine, no network. */
    @Benchmark
    public int engineSimpleRouteNormalized(Blackhole bh) {
        return exchange("/", SIMPLE, bh);
    }

    private int exchange(String path, byte[] body, Blackhole bh) {
        return exchange(engine, path, body, bh);
    }

    private int exchange(ProxyEngine engine, String path, byte[] body, Blackhole bh) {
        ProxyRequest request = ProxyRequest.builder("POST", path)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("User-Agent", "OpenAI/JS 4.80.0")
                .header("Content-Length", Integer.toString(body.length))
                .requestOrigin("http://127.0.0.1:8787")
                .body(body)
                .build();
        ProxyResponse response = engine.handle(request).join();
        Drain drain = new Drain(bh);
        response.body().subscribe(drain);
        if (response.status() != 200 || !drain.done) {
            throw new IllegalStateException("status " + response.status());
        }
        return drain.bytes;
    }
}
