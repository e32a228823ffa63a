package io.github.openaiproxy.core;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.net.http.HttpHeaders;
import java.time.Instant;
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
 * What identifying the caller adds to a request: one whole {@code POST /v1/chat/completions} through
 * {@link ProxyEngine#handle} against an in-memory upstream, one request at a time (one connection), without
 * access control and with a proxy key ({@code Authorization: Bearer opk-...}: SHA-256, the key cache, the
 * constant-time comparison, the expiry check). Sampled, so the report has p50 and p99 per request.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class AccessBenchmark {
    static final byte[] BODY = StubBodies.chatRequest(false);
    static final byte[] ANSWER = StubBodies.chatCompletion();

    private ProxyEngine open;
    private ProxyEngine withKeys;
    private String secret;

    @Setup(Level.Trial)
    public void setUp() {
        ProxyConfig config = ProxyConfig.builder().apiKey("sk-bench").build();
        open = ProxyEngine.create(config, canned());
        ProxyKeys.NewKey key = ProxyKeys.generate();
        secret = key.secret();
        withKeys = ProxyEngine.builder(config)
                .upstreamClient(canned())
                .proxyKeys(InMemoryProxyKeyStore.of(new ProxyKey(
                        "bench",
                        key.displayPrefix(),
                        key.hash(),
                        "bench",
                        null,
                        "keys",
                        Instant.now(),
                        null,
                        null,
                        null)))
                .build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        open.close();
        withKeys.close();
    }

    /** No credential, anonymous callers allowed (the default). */
    @Benchmark
    public int noAccessControl(Blackhole bh) {
        return exchange(open, request().build(), bh);
    }

    /** A valid proxy key, found in the cache. */
    @Benchmark
    public int proxyKey(Blackhole bh) {
        return exchange(
                withKeys, request().header("Authorization", "Bearer " + secret).build(), bh);
    }

    private static ProxyRequest.Builder request() {
        return ProxyRequest.builder("POST", "/v1/chat/completions")
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("User-Agent", "OpenAI/JS 4.80.0")
                .header("Content-Length", Integer.toString(BODY.length))
                .remoteAddress("127.0.0.1")
                .body(BODY);
    }

    private static int exchange(ProxyEngine engine, ProxyRequest request, Blackhole bh) {
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
