package io.github.openaiproxy.core.images;

import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import org.testng.annotations.AfterClass;

/** A stored image's body, read chunk by chunk on an executor, keeps the Flow rules. */
public class StreamBodyTckTest extends BodyPublisherVerification {
    private final ExecutorService readers = Executors.newFixedThreadPool(2);

    @AfterClass
    public void stopReaders() {
        readers.shutdownNow();
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        long length = elements * StreamBody.CHUNK;
        return new StreamBody(zeros(length), length, readers);
    }

    @Override
    public long maxElementsFromPublisher() {
        return 1000;
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return null; // a stream that fails is tested by the engine tests; the TCK skips this rule
    }

    private static InputStream zeros(long length) {
        return new InputStream() {
            private long left = length;

            @Override
            public int read() {
                return left-- > 0 ? 0 : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left <= 0) {
                    return -1;
                }
                int n = (int) Math.min(len, left);
                left -= n;
                return n;
            }
        };
    }
}
