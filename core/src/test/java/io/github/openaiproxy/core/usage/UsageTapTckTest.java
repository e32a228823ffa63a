package io.github.openaiproxy.core.usage;

import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import org.reactivestreams.FlowAdapters;
import org.reactivestreams.example.unicast.AsyncIterablePublisher;
import org.testng.annotations.AfterClass;

/**
 * The usage tap keeps the Flow rules of its source, also while it drops the usage chunks it asked for: its
 * source sends a usage-only chunk before each chunk the subscriber gets, so every item the subscriber asked
 * for costs the tap two upstream items.
 */
public class UsageTapTckTest extends BodyPublisherVerification {
    private static final HttpHeaders HEADERS = HttpHeaders.of(Map.of(), (a, b) -> true);
    private static final String USAGE_CHUNK =
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n";

    private final ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "tck-usage-source");
        t.setDaemon(true);
        return t;
    });

    @AfterClass
    public void stopUsageSource() {
        executor.shutdownNow();
    }

    private static Flow.Publisher<List<ByteBuffer>> tapped(Flow.Publisher<List<ByteBuffer>> body) {
        UsageTap.Spec spec = new UsageTap.Spec("gpt-4o", true, System.nanoTime(), TokenCounter.standard(), 1);
        return UsageTap.tap(new ProxyResponse(200, HEADERS, body, true), spec, m -> {})
                .body();
    }

    /** {@code elements} chunks the subscriber gets, each after a usage chunk the tap drops. */
    private Flow.Publisher<List<ByteBuffer>> withUsageChunks(long elements) {
        Iterable<List<ByteBuffer>> events = () -> new Iterator<>() {
            private long next;

            @Override
            public boolean hasNext() {
                return next < 2 * elements;
            }

            @Override
            public List<ByteBuffer> next() {
                long n = next++;
                String e = n % 2 == 0
                        ? USAGE_CHUNK
                        : "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"" + n
                                + "\"}}],\"usage\":null}\n\n";
                return List.of(ByteBuffer.wrap(e.getBytes(StandardCharsets.UTF_8)));
            }
        };
        return FlowAdapters.toFlowPublisher(new AsyncIterablePublisher<>(events, executor));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        if (elements > 1_000_000) {
            return tapped(source(elements)); // the TCK's unbounded case: no usage chunks
        }
        return tapped(withUsageChunks(elements));
    }

    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return tapped(Publishers.failed(failure()));
    }
}
