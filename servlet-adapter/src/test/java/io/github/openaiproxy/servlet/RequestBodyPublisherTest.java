package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;

/**
 * Once the exchange has ended the container recycles the request's input stream for another connection:
 * the body reader must not touch it after that, not even from a read that was in progress.
 */
class RequestBodyPublisherTest {

    /** An input stream that records what is called on it; a read can be held in progress by the test. */
    static final class ScriptedInput extends ServletInputStream {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final CountDownLatch inRead = new CountDownLatch(1);
        final CountDownLatch releaseRead = new CountDownLatch(1);
        ReadListener listener;

        @Override
        public boolean isFinished() {
            return false;
        }

        @Override
        public boolean isReady() {
            calls.add("isReady");
            return true;
        }

        @Override
        public void setReadListener(ReadListener readListener) {
            calls.add("setReadListener");
            listener = readListener;
        }

        @Override
        public int read() {
            throw new UnsupportedOperationException();
        }

        @Override
        public int read(byte[] b, int off, int len) {
            calls.add("read");
            inRead.countDown();
            try {
                releaseRead.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            b[off] = 'x';
            return 1;
        }
    }

    /** A subscriber that records its signals; it requests when the test says. */
    static final class Recorder implements Flow.Subscriber<ByteBuffer> {
        final List<String> signals = new CopyOnWriteArrayList<>();
        volatile Flow.Subscription subscription;

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
        }

        @Override
        public void onNext(ByteBuffer item) {
            signals.add("next");
        }

        @Override
        public void onError(Throwable t) {
            signals.add("error");
        }

        @Override
        public void onComplete() {
            signals.add("complete");
        }
    }

    /** Serves a body from memory, as much as each read asks for. */
    static final class BytesInput extends ServletInputStream {
        private final byte[] body;
        private int position;
        ReadListener listener;
        /** The arrays read into, in order. */
        final List<byte[]> readInto = new CopyOnWriteArrayList<>();

        BytesInput(byte[] body) {
            this.body = body;
        }

        @Override
        public boolean isFinished() {
            return position == body.length;
        }

        @Override
        public boolean isReady() {
            return true;
        }

        @Override
        public void setReadListener(ReadListener readListener) {
            listener = readListener;
        }

        @Override
        public int read() {
            throw new UnsupportedOperationException();
        }

        @Override
        public int read(byte[] b, int off, int len) {
            readInto.add(b);
            if (position == body.length) {
                return -1;
            }
            int n = Math.min(len, body.length - position);
            System.arraycopy(body, position, b, off, n);
            position += n;
            return n;
        }
    }

    /** The chunks a body of {@code size} bytes arrives in, declared or not; each one's backing array. */
    private static List<ByteBuffer> chunksOf(int size, boolean declared) throws IOException {
        return chunksOf(size, declared ? size : -1);
    }

    /** The chunks a body of {@code size} bytes arrives in when {@code declared} bytes were declared (-1: none). */
    private static List<ByteBuffer> chunksOf(int size, long declared) throws IOException {
        byte[] bytes = new byte[size];
        for (int i = 0; i < size; i++) {
            bytes[i] = (byte) (i * 31);
        }
        BytesInput in = new BytesInput(bytes);
        RequestBodyPublisher body = new RequestBodyPublisher(in, declared);
        List<ByteBuffer> chunks = new CopyOnWriteArrayList<>();
        CountDownLatch completed = new CountDownLatch(1);
        body.subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(ByteBuffer item) {
                chunks.add(item);
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onComplete() {
                completed.countDown();
            }
        });
        in.listener.onDataAvailable(); // as the container does once a listener is set and bytes are there
        in.listener.onAllDataRead();
        assertThat(completed.getCount()).isZero();
        ByteBuffer all = ByteBuffer.allocate(size);
        chunks.forEach(c -> all.put(c.duplicate()));
        assertThat(all.array()).isEqualTo(bytes);
        if (declared == size) {
            for (int i = 0; i < chunks.size(); i++) {
                assertThat(chunks.get(i).array())
                        .as("chunk %d is the very array read into: no copy", i)
                        .isSameAs(in.readInto.get(i));
            }
        }
        return chunks;
    }

    /** A body of declared length is read into buffers of its size, each handed on without a copy. */
    @Test
    void aDeclaredBodyArrivesInBuffersOfItsOwnSize() throws IOException {
        assertThat(chunksOf(700, true))
                .extracting(c -> c.array().length, ByteBuffer::remaining)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(700, 700));
        assertThat(chunksOf(40_000, true))
                .extracting(c -> c.array().length, ByteBuffer::remaining)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(16_384, 16_384),
                        org.assertj.core.groups.Tuple.tuple(16_384, 16_384),
                        org.assertj.core.groups.Tuple.tuple(7_232, 7_232));
        assertThat(chunksOf(700, false))
                .as("without a declared length: a chunk's buffer, copied to what was read")
                .extracting(ByteBuffer::remaining)
                .containsExactly(700);
        assertThat(chunksOf(0, true)).isEmpty();
    }

    /**
     * A declared length is a hint, not a promise: a filter's request wrapper may rewrite the body and keep the length
     * it was sent with. Every byte still arrives once and in order, and a body longer than declared goes on in whole
     * chunks, not in buffers of one byte (one signal and one array per byte).
     */
    @Test
    void aBodyOfAnotherLengthThanDeclaredArrivesWholeInFewChunks() throws IOException {
        assertThat(chunksOf(40_000, 10).size())
                .as("ten declared bytes, then the rest in chunks")
                .isLessThanOrEqualTo(5);
        assertThat(chunksOf(700, 100_000)).extracting(ByteBuffer::remaining).containsExactly(700);
        assertThat(chunksOf(700, 0).size()).isLessThanOrEqualTo(3);
    }

    @Test
    void aRequestAfterTheExchangeEndedNeverTouchesTheStream() {
        ScriptedInput in = new ScriptedInput();
        RequestBodyPublisher body = new RequestBodyPublisher(in, -1);
        Recorder recorder = new Recorder();
        body.subscribe(recorder);

        body.end();
        recorder.subscription.request(1);

        assertThat(in.calls).isEmpty();
        assertThat(recorder.signals)
                .as("the body fails: the client exchange is over")
                .containsExactly("error");
    }

    @Test
    void endingTheExchangeNeverWaitsForAReadInProgressAndNoReadFollows() throws Exception {
        ScriptedInput in = new ScriptedInput();
        RequestBodyPublisher body = new RequestBodyPublisher(in, -1);
        Recorder recorder = new Recorder();
        body.subscribe(recorder);
        recorder.subscription.request(1); // registers the listener
        Thread reading = new Thread(() -> dataAvailable(in.listener), "test-reader");
        reading.start();
        assertThat(in.inRead.await(10, TimeUnit.SECONDS)).isTrue();

        Thread container = new Thread(body::end, "test-container");
        container.start();
        container.join(10_000);
        assertThat(container.isAlive())
                .as("the container's callback returns at once, whatever a reader is doing")
                .isFalse();

        in.releaseRead.countDown();
        reading.join(10_000);
        recorder.subscription.request(5); // a late demand from the upstream client

        assertThat(in.calls).containsExactly("setReadListener", "isReady", "read");
        assertThat(recorder.signals).containsExactly("next", "error");
    }

    /**
     * Tomcat's {@code isReady()} called from an upstream client's thread takes the processor's lock, which
     * the container holds while it calls back. A callback that waited for that reader would never return.
     */
    @Test
    void theContainerEndingTheExchangeNeverWaitsForAReaderThatWaitsForTheContainer() throws Exception {
        ReentrantLock containerLock = new ReentrantLock();
        CountDownLatch readerInIsReady = new CountDownLatch(1);
        LockingInput in = new LockingInput(containerLock, readerInIsReady);
        RequestBodyPublisher body = new RequestBodyPublisher(in, -1);
        Recorder recorder = new Recorder();
        body.subscribe(recorder);
        recorder.subscription.request(1); // registers the listener
        CountDownLatch containerInCallback = new CountDownLatch(1);
        CountDownLatch readerWaiting = new CountDownLatch(1);
        Thread container = new Thread(
                () -> {
                    containerLock.lock();
                    try {
                        containerInCallback.countDown();
                        await(readerWaiting);
                        body.end(); // the exchange ends, the container still holding its lock
                    } finally {
                        containerLock.unlock();
                    }
                },
                "test-container");
        container.start();
        assertThat(containerInCallback.await(10, TimeUnit.SECONDS)).isTrue();
        Thread upstream = new Thread(() -> dataAvailable(in.listener), "test-upstream-client");
        upstream.start();
        assertThat(readerInIsReady.await(10, TimeUnit.SECONDS)).isTrue();
        awaitParked(upstream);
        readerWaiting.countDown();

        container.join(10_000);
        upstream.join(10_000);
        assertThat(container.isAlive()).as("deadlocked").isFalse();
        assertThat(upstream.isAlive()).as("deadlocked").isFalse();
        assertThat(recorder.signals).containsExactly("error");
    }

    /** An input stream whose {@code isReady()} needs the container's lock, as Tomcat's does. */
    static final class LockingInput extends ServletInputStream {
        final ReentrantLock containerLock;
        final CountDownLatch inIsReady;
        ReadListener listener;

        LockingInput(ReentrantLock containerLock, CountDownLatch inIsReady) {
            this.containerLock = containerLock;
            this.inIsReady = inIsReady;
        }

        @Override
        public boolean isFinished() {
            return false;
        }

        @Override
        public boolean isReady() {
            inIsReady.countDown();
            containerLock.lock();
            try {
                return false;
            } finally {
                containerLock.unlock();
            }
        }

        @Override
        public void setReadListener(ReadListener readListener) {
            listener = readListener;
        }

        @Override
        public int read() {
            throw new UnsupportedOperationException();
        }
    }

    /** What the container, or a subscriber's request from another thread, makes the reader do. */
    private static void dataAvailable(ReadListener listener) {
        try {
            listener.onDataAvailable();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void awaitParked(Thread t) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != Thread.State.WAITING) {
            assertThat(System.nanoTime()).as(t.getName() + " waiting").isLessThan(deadline);
            Thread.sleep(1); // polling the thread's state, not waiting for an event
        }
    }
}
