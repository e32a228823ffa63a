package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.flow.Demand;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A request body read with Servlet non-blocking I/O: no thread waits for a slow client's bytes. The
 * request's input stream is opened when the body is first subscribed to, and the read listener registered on
 * the first request for data; chunks are published as they arrive.
 */
final class RequestBodyPublisher implements Flow.Publisher<ByteBuffer> {
    private static final int CHUNK = 16 * 1024;

    /**
     * Opens the request's input stream. Called only when the body is to be read: opening it is what makes Jetty
     * answer {@code Expect: 100-continue} with {@code 100 Continue}, which a body refused unread must not get.
     */
    @FunctionalInterface
    interface Source {
        ServletInputStream open() throws IOException;
    }

    private final Source source;
    /** The declared {@code Content-Length}, or -1 when none was (a chunked body). */
    private final long declaredLength;

    private final AtomicBoolean subscribed = new AtomicBoolean();
    private volatile Reader reader;
    private volatile boolean ended;

    RequestBodyPublisher(ServletInputStream in, long declaredLength) {
        this(() -> in, declaredLength);
    }

    RequestBodyPublisher(Source source, long declaredLength) {
        this.source = source;
        this.declaredLength = declaredLength;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
        if (!subscribed.compareAndSet(false, true)) {
            io.github.openaiproxy.core.flow.Publishers.refuse(subscriber, "the request body can be read once");
            return;
        }
        ServletInputStream in;
        try {
            if (ended) {
                // The container may have recycled the request: its stream is not opened any more.
                throw new IOException("the exchange ended before the request body was read");
            }
            in = source.open();
        } catch (IOException | RuntimeException e) {
            subscriber.onSubscribe(NO_BODY);
            subscriber.onError(e instanceof IOException ? e : new IOException("the request body cannot be read", e));
            return;
        }
        Reader r = new Reader(in, declaredLength, subscriber);
        reader = r;
        subscriber.onSubscribe(r);
        if (ended) {
            r.end();
        }
    }

    /** The subscription of a body that failed before its first byte: there is nothing to request or cancel. */
    private static final Flow.Subscription NO_BODY = new Flow.Subscription() {
        @Override
        public void request(long n) {}

        @Override
        public void cancel() {}
    };

    /** Whether nobody has subscribed: nothing of the body was read. */
    boolean unread() {
        return !subscribed.get();
    }

    /**
     * Whether the body was read in part and its reader stopped asking without ending it: the engine held an upload's
     * first bytes, then refused the request (a limit) before any upstream call took the rest.
     */
    boolean partlyRead() {
        Reader r = reader;
        return r != null && !r.done.get();
    }

    /**
     * Hands what is left of a {@linkplain #partlyRead partly read} body to {@code dropper}; the subscriber that read
     * the start is not heard any more (neither its requests nor its cancel), so that nothing it does stops the drop.
     * It is told the body failed, so that whatever waits on it (a pipeline the answer left behind) ends and gives
     * back what it holds.
     */
    void dropRest(Flow.Subscriber<? super ByteBuffer> dropper) {
        reader.handOver(dropper);
    }

    /**
     * The exchange has ended (a container callback): no more reads, and a body still being read fails.
     * Never waits: the container calls this holding its own lock, and a read in progress on an upstream
     * client's thread may be waiting for that very lock inside {@code isReady()}. A read already under way
     * when the container recycles the stream meets a discarded facade and fails; none starts after this.
     */
    void end() {
        ended = true;
        Reader r = reader;
        if (r != null) {
            r.end();
        }
    }

    /**
     * Reads as demand and data allow. One thread at a time drains (work-in-progress counting), and no
     * callback ever blocks: the container's callbacks and the subscriber's requests (from the upstream
     * client's threads, when the body streams upstream) only mark work and return.
     */
    private static final class Reader implements Flow.Subscription, ReadListener {
        private static final Object COMPLETE = new Object();
        private static final Object SENT = new Object();

        private final ServletInputStream in;
        /** Who gets the chunks: the subscriber, or after {@link #handOver} the one that drops the rest. */
        private volatile Flow.Subscriber<? super ByteBuffer> subscriber;
        /** Set by {@link #handOver}: the first subscriber's requests and cancel are ignored from then on. */
        private volatile boolean handedOver;
        /** The first subscriber after {@link #handOver}, until the draining thread has told it the body failed. */
        private final AtomicReference<Flow.Subscriber<? super ByteBuffer>> abandoned = new AtomicReference<>();

        private final AtomicLong demand = new AtomicLong();
        private final AtomicBoolean listening = new AtomicBoolean();
        /** Whether the body ended, failed or was cancelled: nothing is read after that. */
        private final AtomicBoolean done = new AtomicBoolean();
        /** The end to signal ({@link #COMPLETE} or a Throwable), sent by the draining thread only. */
        private volatile Object terminal;

        private final AtomicInteger wip = new AtomicInteger();
        /** Allocated while the body is read and dropped after: a stream lasts minutes, its body does not. */
        private byte[] buffer;
        /** Bytes of a declared length not read yet; -1 when no length was declared or more came than declared. */
        private long unread;

        Reader(ServletInputStream in, long declaredLength, Flow.Subscriber<? super ByteBuffer> subscriber) {
            this.in = in;
            this.unread = declaredLength;
            this.subscriber = subscriber;
        }

        @Override
        public void request(long n) {
            if (!handedOver) {
                demand(n);
            }
        }

        @Override
        public void cancel() {
            if (!handedOver) {
                stop();
            }
        }

        /** The rest of the body goes to {@code next}, which asks for it through a subscription of its own. */
        void handOver(Flow.Subscriber<? super ByteBuffer> next) {
            handedOver = true;
            abandoned.set(subscriber);
            subscriber = next;
            next.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                    demand(n);
                }

                @Override
                public void cancel() {
                    stop();
                }
            });
            drain(); // tells the first subscriber, from the draining thread: never during one of its onNext
        }

        private void demand(long n) {
            if (done.get()) {
                return;
            }
            if (n <= 0) {
                fail(Demand.invalid(n));
                return;
            }
            long before = Demand.addTo(demand, n);
            if (listening.compareAndSet(false, true)) {
                in.setReadListener(this); // the container calls onDataAvailable when bytes are there
                if (in.isFinished()) {
                    // Tomcat never tells a listener set off its own threads (a key or JWT checked on the
                    // engine's) that a body had already ended: none, or Content-Length: 0.
                    onAllDataRead();
                }
            } else if (before == 0) {
                drain(); // resume after a pause for demand
            }
        }

        private void stop() {
            done.set(true);
            drain(); // lets the draining thread drop the buffer
        }

        void end() {
            if (!done.get()) { // every exchange ends: no exception made when the body was read
                fail(new IOException("the exchange ended before the request body was read"));
            }
        }

        @Override
        public void onDataAvailable() {
            drain();
        }

        private void drain() {
            if (wip.getAndIncrement() != 0) {
                return; // the thread draining now goes round once more
            }
            do {
                Flow.Subscriber<? super ByteBuffer> left = abandoned.getAndSet(null);
                if (left != null) {
                    left.onError(new IOException("the request was answered before its body was read"));
                }
                try {
                    while (!done.get() && demand.get() > 0 && in.isReady()) {
                        if (buffer == null) {
                            // A body of declared length gets a buffer of its size (up to a chunk), filled and
                            // handed on as it is: typical JSON bodies are far smaller than a chunk.
                            buffer = new byte[unread < 0 ? CHUNK : (int) Math.max(1, Math.min(CHUNK, unread))];
                        }
                        int n = in.read(buffer);
                        if (n == -1) {
                            break; // onAllDataRead follows
                        }
                        if (n > 0) {
                            if (unread > 0) {
                                unread = Math.max(0, unread - n);
                            } else if (unread == 0) {
                                // More than declared (a filter's wrapper may rewrite the body and keep the
                                // length): read on in whole chunks, not in the one-byte buffer sized for the end.
                                unread = -1;
                            }
                            demand.decrementAndGet();
                            ByteBuffer chunk;
                            if (n == buffer.length) {
                                chunk = ByteBuffer.wrap(buffer);
                                buffer = null; // handed on: the next read gets a buffer of its own
                            } else {
                                chunk = ByteBuffer.wrap(Arrays.copyOf(buffer, n));
                            }
                            subscriber.onNext(chunk);
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    fail(e);
                }
                if (done.get()) {
                    buffer = null;
                    Object end = terminal;
                    if (end != null && end != SENT) {
                        // Signalled from here, never from a callback racing an onNext on another thread.
                        terminal = SENT;
                        if (end instanceof Throwable t) {
                            subscriber.onError(t);
                        } else {
                            subscriber.onComplete();
                        }
                    }
                }
            } while (wip.decrementAndGet() != 0);
        }

        @Override
        public void onAllDataRead() {
            if (done.compareAndSet(false, true)) {
                terminal = COMPLETE;
                drain();
            }
        }

        @Override
        public void onError(Throwable t) {
            fail(t);
        }

        private void fail(Throwable t) {
            if (done.compareAndSet(false, true)) {
                terminal = t;
                drain();
            }
        }
    }
}
