package io.github.openaiproxy.core;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;
import org.openjdk.jmh.infra.Blackhole;

/** Reads a whole answer body into the blackhole at once, counting its bytes (the engine benchmarks' client). */
final class Drain implements Flow.Subscriber<List<ByteBuffer>> {
    private final Blackhole bh;
    int bytes;
    boolean done;

    Drain(Blackhole bh) {
        this.bh = bh;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        for (ByteBuffer b : item) {
            bytes += b.remaining();
        }
        bh.consume(item);
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
