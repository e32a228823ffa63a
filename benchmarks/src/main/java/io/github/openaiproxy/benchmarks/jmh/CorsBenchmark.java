package io.github.openaiproxy.benchmarks.jmh;

import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.cors.CorsPolicy;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CORS decision every request pays: the verdict on {@code Origin} plus the response headers, for an
 * exact origin, a pattern, a refused origin and a same-origin request, and a full preflight.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class CorsBenchmark {
    private static final Optional<String> SELF = Optional.of("http://localhost:8787");

    private CorsPolicy policy;
    private Optional<String> exact;
    private Optional<String> pattern;
    private Optional<String> refused;

    @Setup
    public void setUp() {
        policy = new CorsPolicy(CorsConfig.builder()
                .origins(List.of(
                        "https://chat.example.com",
                        "https://admin.example.com",
                        "http://localhost:*",
                        "https://*.preview.example.com"))
                .build());
        exact = Optional.of("https://chat.example.com");
        pattern = Optional.of("https://pr-1234.preview.example.com");
        refused = Optional.of("https://evil.example.net");
    }

    @Benchmark
    public Map<String, String> exactOrigin() {
        CorsPolicy.Verdict v = policy.judge(exact, SELF);
        return v == CorsPolicy.Verdict.ALLOWED ? policy.responseHeaders(exact.get()) : Map.of();
    }

    @Benchmark
    public Map<String, String> patternOrigin() {
        CorsPolicy.Verdict v = policy.judge(pattern, SELF);
        return v == CorsPolicy.Verdict.ALLOWED ? policy.responseHeaders(pattern.get()) : Map.of();
    }

    @Benchmark
    public CorsPolicy.Verdict refusedOrigin() {
        return policy.judge(refused, SELF);
    }

    @Benchmark
    public CorsPolicy.Verdict sameOrigin() {
        return policy.judge(SELF, SELF);
    }

    @Benchmark
    public CorsPolicy.Preflight preflightWithSdkHeaders() {
        return policy.preflight(
                "https://chat.example.com",
                "POST",
                "authorization, content-type, x-stainless-arch, x-stainless-lang, x-stainless-os,"
                        + " x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime,"
                        + " x-stainless-runtime-version, x-stainless-timeout",
                Set.of("POST", "OPTIONS"));
    }
}
