package io.github.openaiproxy.core.internal;

import io.github.openaiproxy.core.flow.Publishers;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;

/** Small body publishers for bodies that are already in memory. */
public final class Bodies {
    private static final byte[] EMPTY = new byte[0];

    private Bodies() {}

    /** A request body with no bytes. */
    public static Flow.Publisher<ByteBuffer> emptyRequest() {
        return Publishers.empty();
    }

    /** A request body held in memory. */
    public static Flow.Publisher<ByteBuffer> requestOf(byte[] bytes) {
        return bytes == null || bytes.length == 0
                ? emptyRequest()
                : Publishers.just(ByteBuffer.wrap(bytes).asReadOnlyBuffer());
    }

    /** A response body held in memory, published as one item. */
    public static Flow.Publisher<List<ByteBuffer>> responseOf(byte[] bytes) {
        return bytes == null || bytes.length == 0
                ? Publishers.empty()
                : Publishers.just(List.of(ByteBuffer.wrap(bytes).asReadOnlyBuffer()));
    }

    /** Subscribes to a body only to cancel it, so an unwanted body releases its connection. */
    public static void discard(Flow.Publisher<List<ByteBuffer>> body) {
        body.subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription subscription) {
                subscription.cancel();
            }

            @Override
            public void onNext(List<ByteBuffer> item) {}

            @Override
            public void onError(Throwable throwable) {}

            @Override
            public void onComplete() {}
        });
    }

    /** The bytes of an empty body. */
    public static byte[] empty() {
        return EMPTY;
    }
}
