package io.github.openaiproxy.core.relay;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Relays an upstream Server-Sent Events body event by event: bytes are cut only at event boundaries (a
 * blank line), never changed, and each complete event is published as its own item so the adapter can
 * flush it at once. Demand flows upstream: one upstream read is requested only when the client can
 * take more, so a slow client slows the upstream instead of filling memory.
 *
 * <p>When the upstream fails mid-stream, the partial event is dropped and one error event in OpenAI's
 * shape ({@code data: {"error":{...}}}) is published before completing; a {@code [DONE]} is never
 * invented. Cancelling the subscription cancels the upstream read.
 */
public final class SseEventRelay implements Flow.Publisher<List<ByteBuffer>> {
    /** The event sent when the upstream breaks off a stream. */
    static final byte[] UPSTREAM_BROKE_EVENT = ("data: {\"error\":{\"message\":\"The upstream connection was lost"
                    + " before the stream completed\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_disconnected\"}}\n\n")
            .getBytes(StandardCharsets.UTF_8);

    static final byte[] EVENT_TOO_LARGE_EVENT = ("data: {\"error\":{\"message\":\"An upstream event exceeded the"
                    + " proxy's size limit\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_event_too_large\"}}\n\n")
            .getBytes(StandardCharsets.UTF_8);

    private final Flow.Publisher<List<ByteBuffer>> upstream;
    private final int maxEventBytes;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    /**
     * @param upstream the upstream body
     * @param maxEventBytes the largest event accepted; a bigger one ends the stream with an error event
     */
    public SseEventRelay(Flow.Publisher<List<ByteBuffer>> upstream, int maxEventBytes) {
        this.upstream = Objects.requireNonNull(upstream, "upstream");
        if (maxEventBytes < 1) {
            throw new IllegalArgumentException("maxEventBytes must be positive");
        }
        this.maxEventBytes = maxEventBytes;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
        if (!subscribed.compareAndSet(false, true)) {
            downstream.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {}

                @Override
                public void cancel() {}
            });
            downstream.onError(new IllegalStateException("an SSE relay can be subscribed once"));
            return;
        }
        Relay relay = new Relay(downstream, maxEventBytes);
        downstream.onSubscribe(relay);
        upstream.subscribe(relay);
    }

    private static final class Relay implements Flow.Subscriber<List<ByteBuffer>>, Flow.Subscription {
        private final Flow.Subscriber<? super List<ByteBuffer>> downstream;
        private final EventFramer framer;
        private final Queue<ByteBuffer> ready = new ConcurrentLinkedQueue<>();
        private final AtomicLong demand = new AtomicLong();
        private final AtomicInteger wip = new AtomicInteger();
        private volatile Flow.Subscription upstream;
        private volatile boolean upstreamRequested;
        private volatile boolean upstreamDone;
        private volatile boolean cancelled;
        private boolean terminated;

        Relay(Flow.Subscriber<? super List<ByteBuffer>> downstream, int maxEventBytes) {
            this.downstream = downstream;
            this.framer = new EventFramer(maxEventBytes);
        }

        // --- upstream side: signals are serialized by the upstream publisher

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            if (upstream != null || cancelled) {
                subscription.cancel();
                return;
            }
            upstream = subscription;
            drain();
        }

        @Override
        public void onNext(List<ByteBuffer> item) {
            if (cancelled || upstreamDone) {
                return;
            }
            boolean tooLarge = false;
            for (ByteBuffer b : item) {
                if (!framer.append(b, ready::add)) {
                    tooLarge = true;
                    break;
                }
            }
            if (tooLarge) {
                upstreamDone = true;
                upstream.cancel();
                ready.add(ByteBuffer.wrap(EVENT_TOO_LARGE_EVENT).asReadOnlyBuffer());
            }
            upstreamRequested = false;
            drain();
        }

        @Override
        public void onError(Throwable throwable) {
            if (upstreamDone) {
                return;
            }
            framer.discard();
            ready.add(ByteBuffer.wrap(UPSTREAM_BROKE_EVENT).asReadOnlyBuffer());
            upstreamDone = true;
            drain();
        }

        @Override
        public void onComplete() {
            if (upstreamDone) {
                return;
            }
            // A last event without its blank line is still relayed as sent.
            framer.flushRemainder(ready::add);
            upstreamDone = true;
            drain();
        }

        // --- downstream side

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
            ready.clear();
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
                while (demand.get() > 0 && !cancelled) {
                    ByteBuffer event = ready.poll();
                    if (event == null) {
                        break;
                    }
                    demand.decrementAndGet();
                    downstream.onNext(List.of(event));
                }
                if (cancelled) {
                    continue;
                }
                if (ready.isEmpty() && upstreamDone) {
                    terminated = true;
                    downstream.onComplete();
                } else if (ready.isEmpty() && demand.get() > 0 && !upstreamRequested && upstream != null) {
                    upstreamRequested = true;
                    upstream.request(1);
                }
            } while (wip.decrementAndGet() != 0);
        }
    }
}
