package io.github.openaiproxy.core.images;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A response body read from a blocking stream on an executor, one chunk per item the subscriber asks for, so an
 * image is never held whole. The stream is closed when it ends, fails, or the subscriber cancels.
 */
final class StreamBody implements Flow.Publisher<List<ByteBuffer>> {
    static final int CHUNK = 64 * 1024;

    private final InputStream in;
    private final long length;
    private final Executor executor;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    /** The {@code length} bytes of {@code in} (a stream that ends sooner is an error). */
    StreamBody(InputStream in, long length, Executor executor) {
        this.in = in;
        this.length = length;
        this.executor = executor;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
        if (!subscribed.compareAndSet(false, true)) {
            io.github.openaiproxy.core.flow.Publishers.refuse(subscriber, "one subscriber only");
            return;
        }
        Reading reading = new Reading(subscriber);
        subscriber.onSubscribe(reading);
        reading.subscribed();
    }

    private final class Reading implements Flow.Subscription {
        /** Dropped at cancel, not when the reading thread next runs: a loaded executor may run it much later. */
        private volatile Flow.Subscriber<? super List<ByteBuffer>> subscriber;

        private final AtomicLong demand = new AtomicLong();
        /** Passes owed to {@link #drain}; 1 while {@code onSubscribe} runs, so no signal overtakes it. */
        private final AtomicInteger work = new AtomicInteger(1);

        private volatile boolean cancelled;
        private volatile Throwable badRequest;
        /** Touched only by the one draining thread (and by a refused schedule, when none drains). */
        private boolean done;

        private long remaining = length;

        Reading(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
            this.subscriber = subscriber;
        }

        @Override
        public void request(long n) {
            if (n <= 0) {
                badRequest = new IllegalArgumentException("non-positive request: " + n);
            } else {
                demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
            }
            schedule();
        }

        @Override
        public void cancel() {
            cancelled = true;
            subscriber = null;
            schedule(); // closes the stream on the reading thread, never under a read in progress
        }

        /** {@code onSubscribe} returned: drain what was asked meanwhile. */
        void subscribed() {
            if (work.decrementAndGet() != 0) {
                start();
            }
        }

        private void schedule() {
            if (work.getAndIncrement() == 0) {
                start();
            }
        }

        private void start() {
            try {
                executor.execute(this::drain);
            } catch (RejectedExecutionException e) {
                done = true;
                close();
                Flow.Subscriber<? super List<ByteBuffer>> s = subscriber;
                if (s != null) {
                    s.onError(e);
                }
            }
        }

        private void drain() {
            do {
                if (done) {
                    continue;
                }
                Flow.Subscriber<? super List<ByteBuffer>> s = subscriber;
                if (cancelled || s == null) {
                    finish();
                    continue;
                }
                if (badRequest != null) {
                    finish();
                    s.onError(badRequest);
                    continue;
                }
                if (remaining == 0) {
                    finish();
                    s.onComplete();
                    continue;
                }
                while (demand.get() > 0 && !cancelled && !done) {
                    int want = (int) Math.min(CHUNK, remaining);
                    byte[] chunk = new byte[want];
                    int n;
                    try {
                        n = in.readNBytes(chunk, 0, want);
                        if (n < want) {
                            throw new IOException("stored image shorter than its length");
                        }
                    } catch (IOException | RuntimeException e) {
                        finish();
                        s.onError(e);
                        break;
                    }
                    remaining -= n;
                    demand.decrementAndGet();
                    s.onNext(List.of(ByteBuffer.wrap(chunk)));
                    if (remaining == 0) {
                        finish();
                        s.onComplete();
                    }
                }
                if (cancelled && !done) {
                    finish();
                }
            } while (work.decrementAndGet() != 0);
        }

        private void finish() {
            done = true;
            close();
        }

        private void close() {
            try {
                in.close();
            } catch (IOException e) {
                // nothing to release beyond it
            }
        }
    }
}
