package io.github.openaiproxy.servlet;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A request body read with Servlet non-blocking I/O: no thread waits for a slow client's bytes. The
 * read listener is registered on the first request for data; chunks are published as they arrive.
 */
final class RequestBodyPublisher implements Flow.Publisher<ByteBuffer> {
    private static final int CHUNK = 16 * 1024;

    private final ServletInputStream in;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    RequestBodyPublisher(ServletInputStream in) {
        this.in = in;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
        if (!subscribed.compareAndSet(false, true)) {
            subscriber.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {}

                @Override
                public void cancel() {}
            });
            subscriber.onError(new IllegalStateException("the request body can be read once"));
            return;
        }
        subscriber.onSubscribe(new Reader(in, subscriber));
    }

    private static final class Reader implements Flow.Subscription, ReadListener {
        private final ServletInputStream in;
        private final Flow.Subscriber<? super ByteBuffer> subscriber;
        private final AtomicLong demand = new AtomicLong();
        private final AtomicBoolean listening = new AtomicBoolean();
        /** Allocated while the body is read and dropped after: a stream lasts minutes, its body does not. */
        private byte[] buffer;

        private volatile boolean done;

        Reader(ServletInputStream in, Flow.Subscriber<? super ByteBuffer> subscriber) {
            this.in = in;
            this.subscriber = subscriber;
        }

        @Override
        public void request(long n) {
            if (done) {
                return;
            }
            if (n <= 0) {
                fail(new IllegalArgumentException("non-positive request: " + n));
                return;
            }
            long before = demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
            if (listening.compareAndSet(false, true)) {
                in.setReadListener(this); // the container calls onDataAvailable when bytes are there
            } else if (before == 0) {
                onDataAvailableQuietly(); // resume after a pause for demand
            }
        }

        @Override
        public void cancel() {
            done = true;
            release();
        }

        @Override
        public synchronized void onDataAvailable() throws IOException {
            while (!done && demand.get() > 0 && in.isReady()) {
                if (buffer == null) {
                    buffer = new byte[CHUNK];
                }
                int n = in.read(buffer);
                if (n == -1) {
                    return; // onAllDataRead follows
                }
                if (n > 0) {
                    demand.decrementAndGet();
                    subscriber.onNext(ByteBuffer.wrap(Arrays.copyOf(buffer, n)));
                }
            }
        }

        private void onDataAvailableQuietly() {
            try {
                onDataAvailable();
            } catch (IOException | RuntimeException e) {
                fail(e);
            }
        }

        @Override
        public void onAllDataRead() {
            if (!done) {
                done = true;
                release();
                subscriber.onComplete();
            }
        }

        private synchronized void release() {
            buffer = null;
        }

        @Override
        public void onError(Throwable t) {
            fail(t);
        }

        private void fail(Throwable t) {
            if (!done) {
                done = true;
                release();
                subscriber.onError(t);
            }
        }
    }
}
