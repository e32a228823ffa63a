package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The writer's hand-over between the body and the socket, with a scripted socket: the orderings that
 * real HTTP produces only now and then (see {@code StreamingRelayTest}'s 20 MiB body) made certain.
 */
class ResponseBodyWriterTest {

    /** A ServletOutputStream whose readiness the test sets, as Tomcat's is under backpressure. */
    static class ScriptedOutput extends ServletOutputStream {
        final ByteArrayOutputStream written = new ByteArrayOutputStream();
        WriteListener listener;
        boolean ready = true;
        int flushes;

        @Override
        public boolean isReady() {
            return ready;
        }

        @Override
        public void setWriteListener(WriteListener writeListener) {
            listener = writeListener;
        }

        @Override
        public void write(int b) {
            written.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            written.write(b, off, len);
        }

        @Override
        public void flush() {
            flushes++;
        }

        /** The socket drained: readiness returns and the container calls the listener. */
        void becomeWritable() throws IOException {
            ready = true;
            listener.onWritePossible();
        }
    }

    /** A body whose signals the test sends by hand. */
    static final class ManualBody implements Flow.Publisher<List<ByteBuffer>> {
        Flow.Subscriber<? super List<ByteBuffer>> subscriber;
        final AtomicLong demand = new AtomicLong();
        volatile boolean cancelled;

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> s) {
            subscriber = s;
            s.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                    demand.addAndGet(n);
                }

                @Override
                public void cancel() {
                    cancelled = true;
                }
            });
        }

        void send(String text) {
            assertThat(demand.getAndDecrement()).as("demand before onNext").isPositive();
            subscriber.onNext(List.of(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8))));
        }
    }

    @ParameterizedTest(name = "streaming={0}")
    @ValueSource(booleans = {false, true})
    void theEndOfTheBodyArrivingWhileTheLastItemWaitsForTheSocketStillCompletesTheResponse(boolean streaming)
            throws IOException {
        ScriptedOutput out = new ScriptedOutput();
        AtomicInteger completed = new AtomicInteger();
        ResponseBodyWriter writer = new ResponseBodyWriter(asyncContext(completed), response(out));
        writer.listen();
        out.listener.onWritePossible(); // the container's first call, once service() has returned
        ManualBody body = new ManualBody();
        writer.start(new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, streaming));

        body.send("data: one\n\n");
        assertThat(out.written.toString(StandardCharsets.UTF_8)).isEqualTo("data: one\n\n");
        out.ready = false; // the client is slow: the socket is full
        body.send("data: two\n\n"); // waits for the socket
        body.subscriber.onComplete(); // the upstream is done meanwhile
        assertThat(completed).hasValue(0);

        out.becomeWritable();

        assertThat(out.written.toString(StandardCharsets.UTF_8)).isEqualTo("data: one\n\ndata: two\n\n");
        assertThat(completed).as("async.complete() calls").hasValue(1);
        if (streaming) {
            assertThat(out.flushes).isEqualTo(2);
        }
    }

    @Test
    void aWholeBodyIsFlushedBeforeTheResponseIsCompleted() throws IOException {
        ScriptedOutput out = new ScriptedOutput();
        AtomicInteger completed = new AtomicInteger();
        AtomicInteger flushesAtComplete = new AtomicInteger(-1);
        ResponseBodyWriter writer = new ResponseBodyWriter(
                asyncContext(completed, () -> flushesAtComplete.set(out.flushes)), response(out));
        writer.listen();
        out.listener.onWritePossible(); // the container's first call, once service() has returned
        ManualBody body = new ManualBody();
        writer.start(new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, false));

        body.send("{\"id\":\"chatcmpl-1\"}");
        assertThat(out.flushes).as("no flush while the body is still coming").isZero();
        body.subscriber.onComplete();

        assertThat(completed).hasValue(1);
        assertThat(flushesAtComplete).as("flushes before async.complete()").hasValue(1);
    }

    @ParameterizedTest(name = "streaming={0}")
    @ValueSource(booleans = {false, true})
    void aBodyErrorArrivingWhileTheLastItemWaitsForTheSocketStillEndsTheResponse(boolean streaming) throws IOException {
        ScriptedOutput out = new ScriptedOutput();
        AtomicInteger completed = new AtomicInteger();
        ResponseBodyWriter writer = new ResponseBodyWriter(asyncContext(completed), response(out));
        writer.listen();
        out.listener.onWritePossible(); // the container's first call, once service() has returned
        ManualBody body = new ManualBody();
        writer.start(new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, streaming));

        out.ready = false;
        body.send("data: one\n\n");
        body.subscriber.onError(new IOException("upstream reset"));
        out.becomeWritable();

        assertThat(completed).hasValue(1);
    }

    /**
     * The container ends the exchange (its {@code onError}) while an upstream thread is inside a write:
     * the callback waits for the writer's round to end (without a lock: the writer never waits for it)
     * and completes the exchange, and the signals that still come from the upstream touch neither the
     * output nor the async context. Once the callback returns, the container recycles them for another
     * connection.
     */
    @Test
    void theContainerEndingTheExchangeWaitsForAWriteInProgressAndNothingTouchesTheResponseAfter() throws Exception {
        List<String> calls = new CopyOnWriteArrayList<>();
        CountDownLatch inWrite = new CountDownLatch(1);
        CountDownLatch releaseWrite = new CountDownLatch(1);
        ScriptedOutput out = new ScriptedOutput() {
            @Override
            public void write(byte[] b, int off, int len) {
                calls.add("write");
                inWrite.countDown();
                try {
                    releaseWrite.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                super.write(b, off, len);
            }

            @Override
            public void flush() {
                calls.add("flush");
                super.flush();
            }
        };
        AtomicInteger completed = new AtomicInteger();
        ResponseBodyWriter writer = new ResponseBodyWriter(
                asyncContext(completed, () -> calls.add("complete")),
                response(out),
                TimeUnit.SECONDS.toNanos(30)); // the write below is held for as long as the test needs
        writer.listen();
        out.listener.onWritePossible();
        ManualBody body = new ManualBody();
        writer.start(new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, true));

        Thread upstream = daemon(() -> body.send("data: one\n\n"), "test-upstream");
        upstream.start();
        assertThat(inWrite.await(10, TimeUnit.SECONDS)).isTrue();
        Thread container = daemon(writer::containerEnded, "test-container");
        container.start();
        awaitParked(container, Thread.State.TIMED_WAITING);
        assertThat(calls).as("nothing completes while the write is in progress").containsExactly("write");

        releaseWrite.countDown();
        container.join(10_000);
        upstream.join(10_000);
        assertThat(container.isAlive()).isFalse();
        assertThat(calls).containsExactly("write", "flush", "complete");
        assertThat(body.cancelled).as("the upstream is stopped").isTrue();

        // What an aborted upstream still sends, and the engine's own late completion: all ignored.
        body.subscriber.onNext(List.of(ByteBuffer.wrap("data: two\n\n".getBytes(StandardCharsets.UTF_8))));
        body.subscriber.onError(new IOException("cancelled"));
        writer.complete();
        writer.containerEnded(); // onComplete follows onError
        assertThat(calls).containsExactly("write", "flush", "complete");
        assertThat(completed).hasValue(1);
    }

    /**
     * Tomcat's {@code isReady()} and {@code write()} take the processor's lock, which the container holds
     * while it calls the end callbacks ({@code onError}, {@code onComplete}, a timeout). A callback that
     * waited for a writer inside {@code isReady()} without a bound would never return, and neither would the
     * writer.
     */
    @Test
    void theContainerEndingTheExchangeNeverWaitsForAWriterThatWaitsForTheContainer() throws Exception {
        ReentrantLock containerLock = new ReentrantLock();
        CountDownLatch writerInIsReady = new CountDownLatch(1);
        ScriptedOutput out = new ScriptedOutput() {
            volatile boolean locking;

            @Override
            public boolean isReady() {
                if (!locking) {
                    return super.isReady();
                }
                writerInIsReady.countDown();
                containerLock.lock();
                try {
                    return super.isReady();
                } finally {
                    containerLock.unlock();
                }
            }

            @Override
            public void flush() {
                locking = true; // from the first event's flush on, readiness needs the container's lock
                super.flush();
            }
        };
        AtomicInteger completed = new AtomicInteger();
        ResponseBodyWriter writer = new ResponseBodyWriter(asyncContext(completed), response(out));
        writer.listen();
        out.listener.onWritePossible();
        ManualBody body = new ManualBody();
        writer.start(new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, true));
        body.send("data: one\n\n"); // written and flushed; readiness now takes the lock

        CountDownLatch containerInCallback = new CountDownLatch(1);
        CountDownLatch writerWaiting = new CountDownLatch(1);
        Thread container = daemon(
                () -> {
                    containerLock.lock();
                    try {
                        containerInCallback.countDown();
                        await(writerWaiting);
                        writer.containerEnded(); // the exchange ends, the container still holding its lock
                    } finally {
                        containerLock.unlock();
                    }
                },
                "test-container");
        container.start();
        assertThat(containerInCallback.await(10, TimeUnit.SECONDS)).isTrue();
        Thread upstream = daemon(() -> body.send("data: two\n\n"), "test-upstream");
        upstream.start();
        assertThat(writerInIsReady.await(10, TimeUnit.SECONDS)).isTrue();
        awaitParked(upstream, Thread.State.WAITING);
        writerWaiting.countDown();

        container.join(5_000);
        upstream.join(5_000);
        assertThat(container.isAlive()).as("deadlocked").isFalse();
        assertThat(upstream.isAlive()).as("deadlocked").isFalse();
        assertThat(completed).as("async.complete() calls").hasValue(1);
        assertThat(body.cancelled).as("the upstream is stopped").isTrue();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true); // a deadlocked one must not keep the test JVM alive
        return t;
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void awaitParked(Thread t, Thread.State state) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != state) {
            assertThat(System.nanoTime()).as(t.getName() + " waiting").isLessThan(deadline);
            Thread.sleep(1); // polling the thread's state, not waiting for an event
        }
    }

    private static AsyncContext asyncContext(AtomicInteger completed) {
        return asyncContext(completed, () -> {});
    }

    private static AsyncContext asyncContext(AtomicInteger completed, Runnable onComplete) {
        return (AsyncContext) Proxy.newProxyInstance(
                AsyncContext.class.getClassLoader(), new Class<?>[] {AsyncContext.class}, (p, m, args) -> {
                    if (m.getName().equals("complete")) {
                        onComplete.run();
                        completed.incrementAndGet();
                    }
                    return null;
                });
    }

    private static HttpServletResponse response(ServletOutputStream out) {
        return (HttpServletResponse) Proxy.newProxyInstance(
                HttpServletResponse.class.getClassLoader(),
                new Class<?>[] {HttpServletResponse.class},
                (p, m, args) -> {
                    if (m.getName().equals("getOutputStream")) {
                        return out;
                    }
                    return m.getReturnType() == boolean.class ? false : null;
                });
    }
}
