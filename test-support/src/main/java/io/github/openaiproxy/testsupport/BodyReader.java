package io.github.openaiproxy.testsupport;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;

/** Reads a response body publisher to its end, keeping both the items and their concatenated bytes. */
public final class BodyReader {
    private BodyReader() {}

    /** A body read to its end. */
    public record Body(List<byte[]> items) {
        public byte[] bytes() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            items.forEach(out::writeBytes);
            return out.toByteArray();
        }

        public String text() {
            return new String(bytes(), StandardCharsets.UTF_8);
        }

        public List<String> itemTexts() {
            return items.stream()
                    .map(b -> new String(b, StandardCharsets.UTF_8))
                    .toList();
        }
    }

    /** Subscribes with unbounded demand; completes with the body or with the publisher's error. */
    public static CompletableFuture<Body> collect(Flow.Publisher<List<ByteBuffer>> body) {
        CompletableFuture<Body> result = new CompletableFuture<>();
        List<byte[]> items = new ArrayList<>();
        body.subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
                synchronized (items) {
                    items.add(toBytes(item));
                }
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                synchronized (items) {
                    result.complete(new Body(List.copyOf(items)));
                }
            }
        });
        return result;
    }

    /** Reads a body, waiting generously (the build machine may be loaded). */
    public static Body read(Flow.Publisher<List<ByteBuffer>> body) {
        try {
            return collect(body).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("body could not be read", e);
        }
    }

    /** The bytes of one item, without consuming the buffers. */
    public static byte[] toBytes(List<ByteBuffer> item) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuffer b : item) {
            ByteBuffer d = b.duplicate();
            byte[] chunk = new byte[d.remaining()];
            d.get(chunk);
            out.writeBytes(chunk);
        }
        return out.toByteArray();
    }
}
