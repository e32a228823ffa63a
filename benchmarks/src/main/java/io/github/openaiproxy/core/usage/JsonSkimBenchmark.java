package io.github.openaiproxy.core.usage;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The usage tap's skim of a whole (non-streamed) answer, alone: the load runs' canned {@code chat.completion}
 * (about 1.4 KB) fed in one buffer, then its {@code usage} and {@code model} read. What the ledger (or any
 * quota) costs per non-streamed answer besides the record itself.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class JsonSkimBenchmark {
    private final byte[] answer = StubBodies.chatCompletion();

    /** Feeds the answer and reads what metering takes from it. */
    @Benchmark
    public TokenUsage skimChatCompletion() {
        JsonSkim skim = new JsonSkim();
        skim.feed(ByteBuffer.wrap(answer));
        skim.model();
        return skim.usage();
    }

    /** Feeds the answer only: the scan without the two small parses at the end. */
    @Benchmark
    public int scanOnly() {
        JsonSkim skim = new JsonSkim();
        skim.feed(ByteBuffer.wrap(answer));
        return skim.images();
    }
}
