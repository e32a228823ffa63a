package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.function.Function;
import org.eclipse.jetty.io.Content;
import org.testng.annotations.AfterClass;

/**
 * The Jetty client's body publisher, over a Jetty content source that has as many chunks as the TCK asks for
 * and announces more content on another thread, as a connection does.
 */
public class JettyBodyPublisherTckTest extends BodyPublisherVerification {
    private final ExecutorService network = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "tck-network");
        t.setDaemon(true);
        return t;
    });

    @AfterClass
    public void stopNetwork() {
        network.shutdownNow();
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return new JettyBodyPublisher(new Chunks(elements), Function.identity());
    }

    /**
     * Not applicable: the body is read only on demand, so a broken connection is found, and signalled, at the
     * next request rather than at subscription (the upstream client kit checks that a broken body ends in
     * {@code onError}).
     */
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return null;
    }

    /** The source makes its chunks as they are read, so any count short of unbounded. */
    @Override
    public long maxElementsFromPublisher() {
        return Long.MAX_VALUE - 1;
    }

    /** {@code count} chunks, then the end; failing it (a cancel) ends it with that failure. */
    private final class Chunks implements Content.Source {
        private long left;
        private Throwable failure;

        Chunks(long count) {
            this.left = count;
        }

        @Override
        public synchronized Content.Chunk read() {
            if (failure != null) {
                return Content.Chunk.from(failure);
            }
            if (left == 0) {
                return Content.Chunk.EOF;
            }
            left--;
            return Content.Chunk.from(ByteBuffer.wrap("data: x\n\n".getBytes(StandardCharsets.UTF_8)), false);
        }

        @Override
        public void demand(Runnable demandCallback) {
            network.execute(demandCallback);
        }

        @Override
        public synchronized void fail(Throwable cause) {
            failure = cause;
        }
    }
}
