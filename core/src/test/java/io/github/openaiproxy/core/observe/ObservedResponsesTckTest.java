package io.github.openaiproxy.core.observe;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Flow;

/** The observed body (a tap that reports first event, usage and outcome) keeps the Flow rules of its source. */
public class ObservedResponsesTckTest extends BodyPublisherVerification {
    private static final HttpHeaders HEADERS = HttpHeaders.of(Map.of(), (a, b) -> true);

    private static Flow.Publisher<List<ByteBuffer>> observed(Flow.Publisher<List<ByteBuffer>> body) {
        ProxyObserver.Observation watching = new ProxyObserver.Observation() {};
        return ObservedResponses.observe(new ProxyResponse(200, HEADERS, body, true), watching, System.nanoTime(), true)
                .body();
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return observed(source(elements));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return observed(Publishers.failed(failure()));
    }
}
