package io.github.openaiproxy.core.session;

import io.github.openaiproxy.core.testing.BodyPublisherVerification;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.testng.SkipException;

/**
 * The body of a reply too large to record: the bytes read so far, then the rest of the upstream's body. With
 * a limit of 0 the first source item becomes the read part, so {@code n} source items are {@code n} items.
 */
public class ReplyReaderTckTest extends BodyPublisherVerification {
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFlowPublisher(long elements) {
        if (elements == 0) {
            // Only a body past the limit becomes this publisher, and that has at least the part that was read.
            throw new SkipException("a too-large reply has at least one item");
        }
        try {
            ReplyReader.Read read = ReplyReader.read(source(elements), 0).get(10, TimeUnit.SECONDS);
            return ((ReplyReader.Read.TooLarge) read).body();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Not applicable: a source that fails before its first item gives no body to relay (the call fails). */
    @Override
    public Flow.Publisher<List<ByteBuffer>> createFailedFlowPublisher() {
        return null;
    }

    /** Single-subscriber: the reply is read once. */
    @Override
    public long maxElementsFromPublisher() {
        return Integer.MAX_VALUE;
    }
}
