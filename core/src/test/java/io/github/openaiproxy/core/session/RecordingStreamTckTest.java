package io.github.openaiproxy.core.session;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/** The recording tap of a session's streamed reply keeps the Flow rules of its source. */
public class RecordingStreamTckTest extends BodyPublisherVerification {
    private static Flow.Publisher<List<ByteBuffer>> recorded(Flow.Publisher<List<ByteBuffer>> events) {
        return new RecordingStream(events, 1024, reply -> CompletableFuture.completedFuture(null));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return recorded(source(elements));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return recorded(Publishers.failed(failure()));
    }
}
