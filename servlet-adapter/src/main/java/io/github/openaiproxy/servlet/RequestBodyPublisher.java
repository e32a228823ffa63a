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
    private volatile Reader reader;
    private volatile boolean ended;

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
        Reader r = new Reader(in, subscriber);
        reader = r;
        subscriber.onSubscribe(r);
        if (ended) {
            r.end();
        }
    }

    /**
     * The exchange has ended (a container callback): no more reads, and a body still being read fails.
     * Waits for a read in progress on another thread to return, so nothing touches the input stream once
     * the container recycles it for another connection.
     */
    void end() {
        ended = true;
        Reader r = reader;
        if (r != null) {
            r.end();
        }
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
                listen();
            } else if (before == 0) {
                onDataAvailableQuietly(); // resume after a pause for demand
            }
        }

        @Override
        public void cancel() {
            done = true;
            release(); // under the lock: waits for a read in progress
        }

        void end() {
            fail(new IOException("the exchange ended before the request body was read"));
        }

        private synchronized void listen() {
            if (!done) {
                in.setReadListener(this); // the container calls onDataAvailable when bytes are there
            }
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
