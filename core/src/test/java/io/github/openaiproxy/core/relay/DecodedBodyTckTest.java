package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.zip.Deflater;
import org.reactivestreams.FlowAdapters;
import org.reactivestreams.example.unicast.AsyncIterablePublisher;
import org.testng.annotations.AfterClass;

/**
 * The decoder of a compressed answer keeps the Flow rules of its source: each source item is one event deflated and
 * flushed, so it decodes to one item for the subscriber.
 */
public class DecodedBodyTckTest extends BodyPublisherVerification {
    private static final HttpHeaders DEFLATE =
            HttpHeaders.of(Map.of("content-encoding", List.of("deflate")), (a, b) -> true);

    private final ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "tck-deflated-source");
        t.setDaemon(true);
        return t;
    });

    @AfterClass
    public void stopDeflatedSource() {
        executor.shutdownNow();
    }

    private static Flow.Publisher<List<ByteBuffer>> decoded(Flow.Publisher<List<ByteBuffer>> body) {
        return DecodedBody.decoded(new UpstreamResponse(200, DEFLATE, body)).body();
    }

    /**
     * {@code elements} events, deflated one by one with a sync flush, so that each is decodable when it arrives; the
     * last ends the deflate stream.
     */
    private Flow.Publisher<List<ByteBuffer>> deflated(long elements) {
        Iterable<List<ByteBuffer>> events = () -> new Iterator<>() {
            private final Deflater deflater = new Deflater();
            private final byte[] out = new byte[256];
            private long next = 1;

            @Override
            public boolean hasNext() {
                return next <= elements;
            }

            @Override
            public List<ByteBuffer> next() {
                deflater.setInput(("data: " + next++ + "\n\n").getBytes(StandardCharsets.UTF_8));
                if (next > elements) { // the last: the stream's end goes with it, else the body was cut short
                    deflater.finish();
                }
                int n = deflater.deflate(out, 0, out.length, Deflater.SYNC_FLUSH);
                return List.of(ByteBuffer.wrap(Arrays.copyOf(out, n)));
            }
        };
        return FlowAdapters.toFlowPublisher(new AsyncIterablePublisher<>(events, executor));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        return decoded(deflated(elements));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return decoded(Publishers.failed(failure()));
    }
}
