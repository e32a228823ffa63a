package io.github.openaiproxy.core;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.net.http.HttpHeaders;
import java.util.Map;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * What routing to a named upstream adds to a request that does not fail (issue 13's target: at most 10 us at
 * p50): one whole {@code POST /v1/chat/completions} through {@link ProxyEngine#handle} against an in-memory
 * upstream, one request at a time, with no named upstream (today's path: the body streams through unread) and
 * with one named upstream serving the model (the body read whole for its model, the route, the key pool, the
 * circuit breaker, the attempt bookkeeping, the attempts and {@code Server-Timing} headers), and the same with extra
 * headers and an own timeout configured (a client of its own). Sampled, so the report has p50 and p99.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class UpstreamRoutingBenchmark {
    static final byte[] BODY = StubBodies.chatRequest(false);
    static final byte[] ANSWER = StubBodies.chatCompletion();

    private ProxyEngine none;
    private ProxyEngine named;
    private ProxyEngine namedWithConnection;

    @Setup(Level.Trial)
    public void setUp() {
        none = ProxyEngine.create(ProxyConfig.builder().apiKey("sk-bench").build(), canned());
        named = ProxyEngine.create(
                ProxySettings.from(Map.of(
                                "api-key", "sk-bench",
                                "upstreams.main.keys", "sk-main-1, sk-main-2",
                                "upstreams.main.models", "gpt-4o*"))
                        .toConfig(),
                canned());
        namedWithConnection = ProxyEngine.create(
                ProxySettings.from(Map.of(
                                "api-key", "sk-bench",
                                "upstreams.main.keys", "sk-main-1, sk-main-2",
                                "upstreams.main.models", "gpt-4o*",
                                "upstreams.main.headers", "X-Team=search, X-Env=prod",
                                "upstreams.main.organization", "org-bench",
                                "upstreams.main.timeout", "30s"))
                        .toConfig(),
                canned());
    }

    private static UpstreamClient canned() {
        return new UpstreamClient() {
            private final HttpHeaders headers = new HeaderMap()
                    .set("content-type", "application/json")
                    .set("content-length", Integer.toString(ANSWER.length))
                    .set("x-request-id", "req_123")
                    .build();

            @Override
            public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
                return CompletableFuture.completedFuture(new UpstreamResponse(200, headers, Bodies.responseOf(ANSWER)));
            }

            @Override
            public void close() {}
        };
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        none.close();
        named.close();
        namedWithConnection.close();
    }

    /** No named upstream: today's path. */
    @Benchmark
    public int noNamedUpstream(Blackhole bh) {
        return exchange(none, bh);
    }

    /** One named upstream serving the request's model. */
    @Benchmark
    public int oneNamedUpstream(Blackhole bh) {
        return exchange(named, bh);
    }

    /** The same, with extra headers, an organization and a timeout of its own. */
    @Benchmark
    public int oneNamedUpstreamWithConnectionSettings(Blackhole bh) {
        return exchange(namedWithConnection, bh);
    }

    private static int exchange(ProxyEngine engine, Blackhole bh) {
        ProxyRequest request = ProxyRequest.builder("POST", "/v1/chat/completions")
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("User-Agent", "OpenAI/JS 4.80.0")
                .header("Content-Length", Integer.toString(BODY.length))
                .body(BODY)
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
