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

    @Test
    void aRequestAfterTheExchangeEndedNeverTouchesTheStream() {
        ScriptedInput in = new ScriptedInput();
        RequestBodyPublisher body = new RequestBodyPublisher(in);
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
    void endingTheExchangeWaitsForAReadInProgressAndNoReadFollows() throws Exception {
        ScriptedInput in = new ScriptedInput();
        RequestBodyPublisher body = new RequestBodyPublisher(in);
        Recorder recorder = new Recorder();
        body.subscribe(recorder);
        recorder.subscription.request(1); // registers the listener
        Thread reading = new Thread(
                () -> {
                    try {
                        in.listener.onDataAvailable(); // as the container calls it
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                },
                "test-reader");
        reading.start();
        assertThat(in.inRead.await(10, TimeUnit.SECONDS)).isTrue();

        Thread container = new Thread(body::end, "test-container");
        container.start();
        awaitBlocked(container);

        in.releaseRead.countDown();
        container.join(10_000);
        reading.join(10_000);
        assertThat(container.isAlive()).isFalse();
        recorder.subscription.request(5); // a late demand from the upstream client

        assertThat(in.calls).containsExactly("setReadListener", "isReady", "read");
        assertThat(recorder.signals).containsExactly("next", "error");
    }

    private static void awaitBlocked(Thread t) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != Thread.State.BLOCKED) {
            assertThat(System.nanoTime()).as(t.getName() + " blocked").isLessThan(deadline);
            assertThat(t.isAlive())
                    .as(t.getName() + " returned while the read was in progress")
                    .isTrue();
            Thread.sleep(1); // polling the thread's state, not waiting for an event
        }
    }
}
