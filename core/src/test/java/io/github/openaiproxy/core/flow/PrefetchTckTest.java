package io.github.openaiproxy.core.flow;

import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.testng.SkipException;

/**
 * A body longer than the prefetch limit: the prefix read, then the rest relayed on demand. With a limit of 0 the
 * first source item is the prefix, so {@code n} source items are {@code n} items.
 */
public class PrefetchTckTest extends BodyPublisherVerification {
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        if (elements == 0) {
            // Only a body past the limit becomes this publisher, and that has at least its prefix.
            throw new SkipException("a longer body has at least its prefix");
        }
        try {
            Prefetch.Outcome read = Prefetch.read(source(elements), 0).get(10, TimeUnit.SECONDS);
            return ((Prefetch.Outcome.Longer) read).body();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Not applicable: a source that fails before its first item ends as {@code Broken}, not as a body. */
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return null;
    }

    @Override
    public long maxElementsFromPublisher() {
        return Integer.MAX_VALUE;
    }
}
