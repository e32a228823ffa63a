package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.benchmarks.load.StubBodies;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Flow;
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
 * The SSE relay per event: {@link EventFramer} cutting upstream reads into events, and the whole
 * {@link SseEventRelay} (framing, queueing, demand one event at a time) between a synchronous upstream and
 * a subscriber that asks for one event after another, as the servlet adapter does. In the package of the
 * framer, which is package-private. Scores are per event.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class SseRelayBenchmark {
    static final int EVENTS = 1000;

    /**
     * How the upstream's reads fall: one event per read, each event split over three reads, or eight
     * events per read.
     */
    @Param({"ONE_PER_READ", "SPLIT_IN_THREE", "EIGHT_PER_READ"})
    public String reads;

    private List<List<ByteBuffer>> items;

    @Setup
    public void setUp() {
        byte[][] events = new byte[EVENTS][];
        for (int i = 0; i < EVENTS; i++) {
            events[i] = StubBodies.chunkEvent(i, 123456789L + i);
        }
        items = new ArrayList<>();
        switch (reads) {
            case "ONE_PER_READ" -> {
                for (byte[] e : events) {
                    items.add(List.of(ByteBuffer.wrap(e)));
                }
            }
            case "SPLIT_IN_THREE" -> {
                for (byte[] e : events) {
                    int a = e.length / 3;
                    int b = 2 * e.length / 3;
                    items.add(List.of(ByteBuffer.wrap(Arrays.copyOfRange(e, 0, a))));
                    items.add(List.of(ByteBuffer.wrap(Arrays.copyOfRange(e, a, b))));
                    items.add(List.of(ByteBuffer.wrap(Arrays.copyOfRange(e, b, e.length))));
                }
            }
            case "EIGHT_PER_READ" -> {
                for (int i = 0; i < EVENTS; i += 8) {
                    int len = 0;
                    for (int j = i; j < i + 8; j++) {
                        len += events[j].length;
                    }
                    ByteBuffer b = ByteBuffer.allocate(len);
                    for (int j = i; j < i + 8; j++) {
                        b.put(events[j]);
                    }
                    items.add(List.of(b.flip()));
                }
            }
            default -> throw new IllegalArgumentException(reads);
        }
    }

    /** The framer alone: the upstream reads cut into events. */
    @Benchmark
    @OperationsPerInvocation(EVENTS)
    public void framer(Blackhole bh) {
        EventFramer framer = new EventFramer(16 * 1024 * 1024);
        for (List<ByteBuffer> item : items) {
            for (ByteBuffer b : item) {
                framer.append(b, bh::consume);
            }
        }
    }

    /** The whole relay, one event requested at a time. */
    @Benchmark
    @OperationsPerInvocation(EVENTS)
    public int relay(Blackhole bh) {
        OneAtATime sink = new OneAtATime(bh);
        new SseEventRelay(new SyncPublisher(items), 16 * 1024 * 1024).subscribe(sink);
        if (sink.events != EVENTS || !sink.done) {
            throw new IllegalStateException("relayed " + sink.events + " events");
        }
        return sink.events;
    }

    /** Publishes the prepared reads synchronously, on demand. */
    static final class SyncPublisher implements Flow.Publisher<List<ByteBuffer>> {
        private final List<List<ByteBuffer>> items;

        SyncPublisher(List<List<ByteBuffer>> items) {
            this.items = items;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> s) {
            s.onSubscribe(new Flow.Subscription() {
                private int next;
                private boolean done;

                @Override
                public void request(long n) {
                    for (long i = 0; i < n && next < items.size(); i++) {
                        s.onNext(items.get(next++));
                    }
                    if (next == items.size() && !done) {
                        done = true;
                        s.onComplete();
                    }
                }

                @Override
                public void cancel() {
                    next = items.size();
                    done = true;
                }
            });
        }
    }

    /** Asks for one event, then the next once it has it, like the servlet adapter. */
    static final class OneAtATime implements Flow.Subscriber<List<ByteBuffer>> {
        private final Blackhole bh;
        private Flow.Subscription subscription;
        int events;
        boolean done;

        OneAtATime(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(1);
        }

        @Override
        public void onNext(List<ByteBuffer> item) {
            events++;
            bh.consume(item);
            subscription.request(1);
        }

        @Override
        public void onError(Throwable t) {
            throw new IllegalStateException(t);
        }

        @Override
        public void onComplete() {
            done = true;
        }
    }
}
