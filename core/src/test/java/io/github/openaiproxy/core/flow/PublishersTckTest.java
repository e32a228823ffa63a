package io.github.openaiproxy.core.flow;

import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;

/** {@link Publishers#just}, {@link Publishers#empty} and {@link Publishers#failed} (as the in-memory bodies use them). */
public class PublishersTckTest extends BodyPublisherVerification {
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return elements == 0 ? Bodies.responseOf(new byte[0]) : Bodies.responseOf(new byte[] {'x'});
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return Publishers.failed(failure());
    }

    /** One item at most: that is what these publishers are for. */
    @Override
    public long maxElementsFromPublisher() {
        return 1;
    }
}
