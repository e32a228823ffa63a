package io.github.openaiproxy.core.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import org.reactivestreams.FlowAdapters;
import org.reactivestreams.example.unicast.AsyncIterablePublisher;
import org.reactivestreams.tck.TestEnvironment;
import org.reactivestreams.tck.flow.FlowPublisherVerification;
import org.testng.annotations.AfterClass;

/**
 * The Reactive Streams TCK for one of the proxy's body publishers (TestNG, run by the JUnit Platform's TestNG
 * engine). Most of them wrap a source: {@link #source(long)} is the TCK's own compliant asynchronous
 * publisher, with one Server-Sent Event per item.
 */
public abstract class BodyPublisherVerification extends FlowPublisherVerification<List<ByteBuffer>> {
    /**
     * Waits up to 2 s for an expected signal (a loaded build machine), 50 ms to see that none comes (a shorter
     * window can only miss a late signal, never fail a compliant publisher; most of the TCK's time is these
     * waits). The poll interval is the whole wait for an expected onError (the rule 3.9 tests): TCK 1.0.4's
     * {@code expectError} sleeps one interval, looks once and fails. 10 ms was too short for an asynchronous
     * source's onError on a loaded machine (modules build in parallel); its default, the whole timeout, makes
     * each of these three tests last 2 s.
     */
    private static final long TIMEOUT_MILLIS = 2000;

    private static final long NO_SIGNAL_MILLIS = 50;
    private static final long POLL_MILLIS = 200;

    /**
     * How long rule 3.13's test lets a cancel take effect before it collects the subscriber: the TCK's 300 ms
     * default failed once with three test JVMs and helpers' builds beside them (the source's executor thread not
     * yet run).
     */
    private static final long REFERENCE_GC_MILLIS = 1000;

    private final ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "tck-source");
        t.setDaemon(true);
        return t;
    });

    protected BodyPublisherVerification() {
        super(new TestEnvironment(TIMEOUT_MILLIS, NO_SIGNAL_MILLIS, POLL_MILLIS), REFERENCE_GC_MILLIS);
    }

    @AfterClass
    public void stopSource() {
        executor.shutdownNow();
    }

    /** A compliant source of {@code elements} events ({@code data: 1}, {@code data: 2}, ...). */
    protected Flow.Publisher<List<ByteBuffer>> source(long elements) {
        Iterable<List<ByteBuffer>> events = () -> new Iterator<>() {
            private long next = 1;

            @Override
            public boolean hasNext() {
                return next <= elements;
            }

            @Override
            public List<ByteBuffer> next() {
                return List.of(ByteBuffer.wrap(("data: " + next++ + "\n\n").getBytes(StandardCharsets.UTF_8)));
            }
        };
        return FlowAdapters.toFlowPublisher(new AsyncIterablePublisher<>(events, executor));
    }

    /** The failure the failed publishers carry. */
    protected static IOException failure() {
        return new IOException("the upstream broke off");
    }
}
