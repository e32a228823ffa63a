package io.github.openaiproxy.graphql;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.route.RouteCall;
import io.github.openaiproxy.graphql.support.TckSource;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.reactivestreams.tck.flow.FlowPublisherVerification;
import org.testng.annotations.AfterClass;

/**
 * The body of a sub-request's answer, which is cancelled with the GraphQL call. It hands the source's
 * subscription on as it is, so it keeps the source's rules.
 */
public class InFlightCallsTckTest extends FlowPublisherVerification<List<ByteBuffer>> {
    private final ExecutorService executor = Executors.newFixedThreadPool(2);

    public InFlightCallsTckTest() {
        super(TckSource.environment());
    }

    @AfterClass
    public void stop() {
        executor.shutdownNow();
    }

    private static Flow.Publisher<List<ByteBuffer>> answered(Flow.Publisher<List<ByteBuffer>> body) {
        RouteCall call = new RouteCall() {
            @Override
            public ProxyRequest request() {
                return ProxyRequest.builder("POST", "/graphql").build();
            }

            @Override
            public byte[] body() {
                return new byte[0];
            }

            @Override
            public io.github.openaiproxy.core.access.Identity identity() {
                return io.github.openaiproxy.core.access.Identity.anonymous("127.0.0.1", "anonymous");
            }

            @Override
            public CompletableFuture<ProxyResponse> dispatch(ProxyRequest request) {
                return CompletableFuture.completedFuture(
                        new ProxyResponse(200, HttpHeaders.of(Map.of(), (a, b) -> true), body, false));
            }
        };
        try {
            return new InFlightCalls(call)
                    .dispatch(ProxyRequest.builder("GET", "/v1/models").build())
                    .get(10, TimeUnit.SECONDS)
                    .body();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return answered(TckSource.of(elements, i -> "{\"n\":" + i + "}", executor));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return answered(io.github.openaiproxy.core.flow.Publishers.failed(new java.io.IOException("broken")));
    }

    @Override
    public long maxElementsFromPublisher() {
        return Integer.MAX_VALUE;
    }
}
