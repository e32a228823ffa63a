package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Flow;

/** The body that gives its upstream permit back when it ends keeps the Flow rules of its source. */
public class ReleasingBodyTckTest extends BodyPublisherVerification {
    private static final HttpHeaders HEADERS = HttpHeaders.of(Map.of(), (a, b) -> true);

    private static Flow.Publisher<List<ByteBuffer>> held(Flow.Publisher<List<ByteBuffer>> body) {
        UpstreamPermits.Permit permit = (UpstreamPermits.Permit) new UpstreamPermits(1, 1).acquire("client");
        return permit.heldUntilDone(new ProxyResponse(200, HEADERS, body, true)).body();
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return held(source(elements));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return held(Publishers.failed(failure()));
    }
}
