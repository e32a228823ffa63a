package io.github.openaiproxy.graphql;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.graphql.support.TckSource;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import org.reactivestreams.tck.flow.FlowPublisherVerification;
import org.testng.annotations.AfterClass;

/** The chat chunks of a streamed GraphQL subscription: one chunk per content event of the relayed stream. */
public class ChatChunksTckTest extends FlowPublisherVerification<Map<String, Object>> {
    private final ExecutorService executor = Executors.newFixedThreadPool(2);

    public ChatChunksTckTest() {
        super(TckSource.environment());
    }

    @AfterClass
    public void stop() {
        executor.shutdownNow();
    }

    @Override
    public Flow.Publisher<Map<String, Object>> createFlowPublisher(long elements) {
        return new ChatChunks(
                TckSource.of(
                        elements,
                        // The last chunk carries the reply's finish, as an upstream's does: a stream without it
                        // is a reply cut short, which the publisher signals as an error.
                        i -> "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + i
                                + "\"},\"finish_reason\":" + (i == elements ? "\"stop\"" : "null") + "}]}\n\n",
                        executor),
                null);
    }

    @Override
    public Flow.Publisher<Map<String, Object>> createFailedFlowPublisher() {
        return new ChatChunks(Publishers.failed(new IOException("the upstream broke off")), null);
    }

    @Override
    public long maxElementsFromPublisher() {
        return Integer.MAX_VALUE;
    }
}
