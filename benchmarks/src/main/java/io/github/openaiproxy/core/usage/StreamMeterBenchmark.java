package io.github.openaiproxy.core.usage;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * What metering costs a streamed chat completion per event, when a ledger or a limit needs its usage: one stream of
 * {@value #EVENTS} chunk events as OpenAI sends them (with the proxy's injected {@code "usage":null} cut out of each,
 * or as the client asked), then the usage chunk and {@code [DONE]}, through a {@link StreamMeter}. Per event.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class StreamMeterBenchmark {
    static final int EVENTS = 100;

    /** Whether the proxy asked for the usage (each chunk then carries a {@code "usage":null} to cut). */
    @Param({"true", "false"})
    public boolean injected;

    private byte[][] events;

    @Setup
    public void setUp() {
        events = new byte[EVENTS + 2][];
        for (int i = 0; i < EVENTS; i++) {
            String e = new String(StubBodies.chunkEvent(i, 0), StandardCharsets.UTF_8);
            events[i] = (injected ? e.replace(",\"stub_seq\"", ",\"usage\":null,\"stub_seq\"") : e)
                    .getBytes(StandardCharsets.UTF_8);
        }
        events[EVENTS] =
                ("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[],"
                                + "\"usage\":{\"prompt_tokens\":36,\"completion_tokens\":100,\"total_tokens\":136}}\n\n")
                        .getBytes(StandardCharsets.UTF_8);
        events[EVENTS + 1] = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);
    }

    /** One whole stream through a new meter. */
    @Benchmark
    @OperationsPerInvocation(EVENTS)
    public TokenUsage meterStream(Blackhole bh) {
        StreamMeter meter = new StreamMeter("gpt-4o-mini", TokenCounter.standard(), injected);
        for (byte[] e : events) {
            bh.consume(meter.onEvent(List.of(ByteBuffer.wrap(e))));
        }
        return meter.usage();
    }
}
