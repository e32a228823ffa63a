package io.github.openaiproxy.core.usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Flow;

/**
 * A synchronous publisher of events, each one writable heap buffer as the SSE relay publishes them (so the
 * tap reads them in place), served on demand; it records the demand it was given.
 */
final class HeapEvents implements Flow.Publisher<List<ByteBuffer>> {
    private final List<String> events;
    private int next;
    private long demand;
    private long requested;
    private boolean emitting;
    private boolean cancelled;
    private Flow.Subscriber<? super List<ByteBuffer>> subscriber;

    HeapEvents(List<String> events) {
        this.events = events;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> s) {
        subscriber = s;
        s.onSubscribe(new Flow.Subscription() {
            @Override
            public void request(long n) {
                requested += n;
                demand += n;
                drain();
            }

            @Override
            public void cancel() {
                cancelled = true;
            }
        });
    }

    private void drain() {
        if (emitting) {
            return; // re-entered from onNext: the loop below goes on
        }
        emitting = true;
        while (!cancelled && demand > 0 && next < events.size()) {
            demand--;
            byte[] b = events.get(next++).getBytes(StandardCharsets.UTF_8);
            subscriber.onNext(List.of(ByteBuffer.wrap(b)));
        }
        if (!cancelled && next == events.size()) {
            next++;
            subscriber.onComplete();
        }
        emitting = false;
    }

    long requested() {
        return requested;
    }

    boolean cancelled() {
        return cancelled;
    }
}
