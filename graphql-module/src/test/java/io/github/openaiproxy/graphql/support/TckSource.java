package io.github.openaiproxy.graphql.support;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import java.util.function.LongFunction;
import org.reactivestreams.FlowAdapters;
import org.reactivestreams.example.unicast.AsyncIterablePublisher;
import org.reactivestreams.tck.TestEnvironment;

/** A compliant asynchronous source for the Reactive Streams TCK tests: the TCK's own example publisher. */
public final class TckSource {
    private TckSource() {}

    /**
     * 2 s for an expected signal (a loaded machine), 50 ms to see that none comes, polls every 200 ms: the poll
     * interval is the whole wait for an expected onError (TCK 1.0.4's {@code expectError} sleeps one interval,
     * looks once and fails), and 10 ms was too short for an asynchronous source on a loaded machine.
     */
    public static TestEnvironment environment() {
        return new TestEnvironment(2000, 50, 200);
    }

    /** {@code elements} items, item {@code i} being the UTF-8 bytes of {@code text.apply(i)}. */
    public static Flow.Publisher<List<ByteBuffer>> of(long elements, LongFunction<String> text, Executor executor) {
        Iterable<List<ByteBuffer>> items = () -> new Iterator<>() {
            private long next = 1;

            @Override
            public boolean hasNext() {
                return next <= elements;
            }

            @Override
            public List<ByteBuffer> next() {
                return List.of(ByteBuffer.wrap(text.apply(next++).getBytes(StandardCharsets.UTF_8)));
            }
        };
        return FlowAdapters.toFlowPublisher(new AsyncIterablePublisher<>(items, executor));
    }
}
