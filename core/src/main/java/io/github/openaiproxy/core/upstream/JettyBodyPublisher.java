package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.flow.Demand;
import io.github.openaiproxy.core.flow.Publishers;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import org.eclipse.jetty.io.Content;

/**
 * An upstream body read from Jetty's {@link Content.Source} as the subscriber asks for it: one chunk read
 * per item requested, nothing read ahead, and a cancelled subscription fails the source, which closes the
 * connection. Each chunk is copied out and released at once, so pooled network buffers never wait on a
 * slow client.
 *
 * <p>Reads happen in one drain loop at a time (whichever thread requests, or Jetty's when content arrives),
 * so {@link Content.Source#read()} is never called concurrently and {@code onNext} never re-enters.
 */
final class JettyBodyPublisher implements Flow.Publisher<List<ByteBuffer>> {
    private final Content.Source source;
    private final Function<Throwable, Throwable> translate;
    private final Consumer<Throwable> abort;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    JettyBodyPublisher(Content.Source source, Function<Throwable, Throwable> translate) {
        this(source, translate, failure -> {});
    }

    /**
     * With {@code abort} run at once by a cancel, on the cancelling thread: failing the source is left to the
     * drain loop, which may be the very thread that cancels (a cancel from inside {@code onNext}) and then does
     * so only once that thread has settled the call upstream of here.
     */
    JettyBodyPublisher(Content.Source source, Function<Throwable, Throwable> translate, Consumer<Throwable> abort) {
        this.source = source;
        this.translate = translate;
        this.abort = abort;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
        if (!subscribed.compareAndSet(false, true)) {
            Publishers.refuse(subscriber, "the upstream body can be read once");
            return;
        }
        Reader reader = new Reader(subscriber);
        subscriber.onSubscribe(reader);
    }

    private final class Reader implements Flow.Subscription {
        private final Flow.Subscriber<? super List<ByteBuffer>> subscriber;
        private final AtomicLong demand = new AtomicLong();
        private final AtomicInteger work = new AtomicInteger();
        private final AtomicBoolean awaitingContent = new AtomicBoolean();
        private volatile boolean cancelled;
        private volatile Throwable invalidRequest;
        /** Set once the subscriber has had its terminal signal (drain loop only). */
        private boolean done;

        Reader(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
            this.subscriber = subscriber;
        }

        @Override
        public void request(long n) {
            if (n <= 0) {
                invalidRequest = Demand.invalid(n);
            } else {
                Demand.addTo(demand, n);
            }
            drain();
        }

        @Override
        public void cancel() {
            cancelled = true;
            abort.accept(new CancellationException("the upstream body's reader went away"));
            drain();
        }

        private void drain() {
            if (work.getAndIncrement() != 0) {
                return; // the running loop will see the new state
            }
            do {
                readWhileDemanded();
            } while (work.decrementAndGet() != 0);
        }

        private void readWhileDemanded() {
            while (!done) {
                if (cancelled) {
                    done = true;
                    source.fail(new CancellationException("the upstream body's reader went away"));
                    return;
                }
                if (invalidRequest != null) {
                    done = true;
                    source.fail(invalidRequest);
                    subscriber.onError(invalidRequest);
                    return;
                }
                if (demand.get() == 0 || awaitingContent.get()) {
                    return;
                }
                Content.Chunk chunk = source.read();
                if (chunk == null) {
                    awaitingContent.set(true);
                    source.demand(() -> {
                        awaitingContent.set(false);
                        drain();
                    });
                    return;
                }
                if (Content.Chunk.isFailure(chunk)) {
                    done = true;
                    Throwable failure = chunk.getFailure();
                    if (!chunk.isLast()) {
                        source.fail(failure);
                    }
                    subscriber.onError(translate.apply(failure));
                    return;
                }
                boolean last = chunk.isLast();
                ByteBuffer bytes = null;
                if (chunk.hasRemaining()) {
                    ByteBuffer in = chunk.getByteBuffer();
                    bytes = ByteBuffer.allocate(in.remaining()).put(in).flip();
                }
                chunk.release();
                if (bytes != null) {
                    demand.decrementAndGet();
                    subscriber.onNext(List.of(bytes));
                }
                if (last) {
                    done = true;
                    subscriber.onComplete();
                }
            }
        }
    }
}
