package io.github.openaiproxy.core;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.usage.UsageLedger;
import java.net.http.HttpHeaders;
import java.util.List;
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
 * What the limit step adds to a request with the in-memory store: one whole {@code POST /v1/chat/completions}
 * through {@link ProxyEngine#handle} against an in-memory upstream, one request at a time (one connection),
 * without quotas, and under a policy with every rate limit, a concurrency limit and a token budget (never
 * reached): the body read and parsed, the prompt counted, the reservation, the headers, the settlement), with
 * the ledger off and on (a ledger that keeps nothing, so the record is built and handed over). Sampled, so the
 * report has p50 and p99 per request.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class LimitsBenchmark {
    static final byte[] BODY = StubBodies.chatRequest(false);
    static final byte[] ANSWER = StubBodies.chatCompletion();
    private static final long MANY = 1L << 50;

    private ProxyEngine none;
    private ProxyEngine limits;
    private ProxyEngine limitsAndLedger;

    @Setup(Level.Trial)
    public void setUp() {
        ProxyConfig plain = ProxyConfig.builder().apiKey("sk-bench").build();
        none = ProxyEngine.create(plain, canned());
        Policy limited = new Policy(
                Policy.ANONYMOUS,
                List.of(),
                List.of(),
                null,
                null,
                Policy.OverCap.CLAMP,
                List.of(),
                List.of(),
                List.of(),
                new Policy.Quotas(MANY, MANY, MANY, MANY, MANY, MANY, MANY, null, null, Policy.Unpriced.REFUSE));
        ProxyConfig config = plain.toBuilder()
                .access(AccessConfig.DEFAULTS.withPolicies(Map.of(Policy.ANONYMOUS, limited)))
                .build();
        limits = ProxyEngine.builder(config).upstreamClient(canned()).build();
        UsageLedger discard = r -> {};
        limitsAndLedger = ProxyEngine.builder(config)
                .upstreamClient(canned())
                .usageLedger(discard)
                .build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        none.close();
        limits.close();
        limitsAndLedger.close();
    }

    /** No quotas, no ledger: the step passes at once. */
    @Benchmark
    public int noLimits(Blackhole bh) {
        return exchange(none, bh);
    }

    /** Every rate limit, concurrency and a token budget in memory. */
    @Benchmark
    public int memoryLimits(Blackhole bh) {
        return exchange(limits, bh);
    }

    /** The same, with a ledger that takes every record. */
    @Benchmark
    public int memoryLimitsAndLedger(Blackhole bh) {
        return exchange(limitsAndLedger, bh);
    }

    private static int exchange(ProxyEngine engine, Blackhole bh) {
        ProxyRequest request = ProxyRequest.builder("POST", "/v1/chat/completions")
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("Content-Length", Integer.toString(BODY.length))
                .remoteAddress("127.0.0.1")
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

    private static UpstreamClient canned() {
        return new UpstreamClient() {
            private final HttpHeaders headers = new HeaderMap()
                    .set("content-type", "application/json")
                    .set("content-length", Integer.toString(ANSWER.length))
                    .build();

            @Override
            public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
                return CompletableFuture.completedFuture(new UpstreamResponse(200, headers, Bodies.responseOf(ANSWER)));
            }

            @Override
            public void close() {}
        };
    }
}
