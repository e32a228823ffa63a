package io.github.openaiproxy.core.internal;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * Collects a body into memory up to a limit. Used only where the proxy must read a body whole: the JSON
 * bodies it normalizes, and upstream error bodies it masks.
 */
public final class BodyCollector {
    private BodyCollector() {}

    /**
     * Collects a request body; completes exceptionally with {@link BodyTooLargeException} once more than
     * {@code limit} bytes arrive (and cancels the rest).
     */
    public static CompletableFuture<byte[]> collect(Flow.Publisher<ByteBuffer> body, long limit) {
        Collector<ByteBuffer> c = new Collector<>(limit, true) {
            @Override
            boolean append(ByteBuffer item) {
                return add(item);
            }
        };
        body.subscribe(c);
        return c.result;
    }

    /**
     * Collects a response body; keeps the first {@code limit} bytes and drops the rest (the upstream
     * connection is cancelled, not drained).
     */
    public static CompletableFuture<byte[]> collectTruncated(Flow.Publisher<List<ByteBuffer>> body, long limit) {
        Collector<List<ByteBuffer>> c = new Collector<>(limit, false) {
            @Override
            boolean append(List<ByteBuffer> item) {
                for (ByteBuffer b : item) {
                    if (!add(b)) {
                        return false;
                    }
                }
                return true;
            }
        };
        body.subscribe(c);
        return c.result;
    }

    private static final byte[] EMPTY = new byte[0];

    private abstract static class Collector<T> implements Flow.Subscriber<T> {
        final CompletableFuture<byte[]> result = new CompletableFuture<>();
        /**
         * The bytes so far, sized by the first chunk and doubled as needed; dropped once the result is known
         * (the subscriber may stay referenced for a whole stream). A body of one chunk is copied once.
         */
        private byte[] out = EMPTY;

        private int size;

        private final long limit;
        private final boolean failOnOverflow;
        private Flow.Subscription subscription;

        Collector(long limit, boolean failOnOverflow) {
            this.limit = limit;
            this.failOnOverflow = failOnOverflow;
        }

        /** Appends an item; returns false when the limit was reached and collecting must stop. */
        abstract boolean append(T item);

        final boolean add(ByteBuffer b) {
            int n = b.remaining();
            long room = limit - size;
            if (n > room) {
                if (failOnOverflow) {
                    result.completeExceptionally(new BodyTooLargeException(limit));
                } else {
                    write(b, (int) room);
                    result.complete(bytes());
                }
                out = null;
                return false;
            }
            write(b, n);
            return true;
        }

        private void write(ByteBuffer b, int n) {
            if (size + n > out.length) {
                out = Arrays.copyOf(out, Math.max(size + n, out.length * 2));
            }
            b.duplicate().get(out, size, n);
            size += n;
        }

        private byte[] bytes() {
            return size == out.length ? out : Arrays.copyOf(out, size);
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            this.subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(T item) {
            if (result.isDone()) {
                return;
            }
            if (!append(item)) {
                subscription.cancel();
            }
        }

        @Override
        public void onError(Throwable t) {
            result.completeExceptionally(t);
            out = null;
        }

        @Override
        public void onComplete() {
            if (out != null) {
                result.complete(bytes());
                out = null;
            }
        }
    }
}
