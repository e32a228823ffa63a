package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.EventStream;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;

/**
 * The event relay (and so {@link EventStream}, which the GraphQL module extends too): one source event per
 * item. A failed source ends the stream with an error event and {@code onComplete}, by design (the client
 * sees why the stream ended), so the failed publisher case is not applicable.
 */
public class SseEventRelayTckTest extends BodyPublisherVerification {
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return new SseEventRelay(source(elements), 64 * 1024);
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return null;
    }

    @Override
    public long maxElementsFromPublisher() {
        return Integer.MAX_VALUE;
    }
}
