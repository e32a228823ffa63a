package io.github.openaiproxy.graphql;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The GraphQL over SSE protocol's "distinct connections mode" on the wire: every result becomes
 * {@code event: next} with the result as {@code data}, the end {@code event: complete}. A failure of the
 * source becomes one more {@code next} with its errors, then {@code complete}. Demand passes through one
 * for one; the closing events wait for demand like any other.
 */
final class SseEvents<T> implements Flow.Publisher<List<ByteBuffer>> {
    static final byte[] COMPLETE = "event: complete\ndata:\n\n".getBytes(StandardCharsets.UTF_8);

    private final Flow.Publisher<T> source;
    private final Function<T, String> toJson;
    private final Function<Throwable, String> errorJson;

    SseEvents(Flow.Publisher<T> source, Function<T, String> toJson, Function<Throwable, String> errorJson) {
        this.source = source;
        this.toJson = toJson;
        this.errorJson = errorJson;
    }

    static ByteBuffer next(String json) {
        // JSON from a serializer has no raw line breaks, so one data line carries it.
        return ByteBuffer.wrap(("event: next\ndata: " + json + "\n\n").getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        Relay relay = new Relay(downstream);
        downstream.onSubscribe(relay);
        source.subscribe(relay);
    }

    private final class Relay implements Flow.Subscriber<T>, Flow.Subscription {
        private final Flow.Subscriber<? super List<ByteBuffer>> downstream;
        private final Queue<ByteBuffer> ready = new ConcurrentLinkedQueue<>();
        private final AtomicLong demand = new AtomicLong();
        /** Results requested from the source and not yet received. */
        private final AtomicLong outstanding = new AtomicLong();

        private final AtomicInteger wip = new AtomicInteger();
        private volatile Flow.Subscription upstream;
        private volatile boolean sourceDone;
        private volatile boolean cancelled;
        private boolean terminated;

        Relay(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            this.downstream = downstream;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            if (cancelled) {
                s.cancel();
                return;
            }
            upstream = s;
            drain();
        }

        @Override
        public void onNext(T item) {
            outstanding.decrementAndGet();
            ready.add(next(toJson.apply(item)));
            drain();
        }

        @Override
        public void onError(Throwable t) {
            ready.add(next(errorJson.apply(t)));
            ready.add(ByteBuffer.wrap(COMPLETE));
            sourceDone = true;
            drain();
        }

        @Override
        public void onComplete() {
            ready.add(ByteBuffer.wrap(COMPLETE));
            sourceDone = true;
            drain();
        }

        @Override
        public void request(long n) {
            if (n <= 0) {
                cancel();
                downstream.onError(new IllegalArgumentException("non-positive request: " + n));
                return;
            }
            demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
            drain();
        }

        @Override
        public void cancel() {
            cancelled = true;
            Flow.Subscription s = upstream;
            if (s != null) {
                s.cancel();
            }
        }

        private void drain() {
            if (wip.getAndIncrement() != 0) {
                return;
            }
            do {
                if (terminated || cancelled) {
                    ready.clear();
                    continue;
                }
                while (demand.get() > 0) {
                    ByteBuffer event = ready.poll();
                    if (event == null) {
                        break;
                    }
                    demand.decrementAndGet();
                    downstream.onNext(List.of(event));
                }
                if (ready.isEmpty() && sourceDone) {
                    terminated = true;
                    downstream.onComplete();
                    continue;
                }
                // Ask the source for as many results as the client wants beyond what is queued.
                Flow.Subscription s = upstream;
                long want = demand.get() - ready.size() - outstanding.get();
                if (s != null && !sourceDone && want > 0) {
                    outstanding.addAndGet(want);
                    s.request(want);
                }
            } while (wip.decrementAndGet() != 0);
        }
    }
}
