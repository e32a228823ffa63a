package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;

/** Runs requests through an engine and reads whole response bodies, for tests. */
public final class TestBodies {
    private TestBodies() {}

    /** The status and body of a request, once the body is complete. */
    public static String text(ProxyEngine engine, ProxyRequest request) throws Exception {
        ProxyResponse response = engine.handle(request).get(30, TimeUnit.SECONDS);
        return read(response);
    }

    /** Reads a body to its end. */
    public static String read(ProxyResponse response) throws Exception {
        CompletableFuture<String> done = new CompletableFuture<>();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        response.body().subscribe(new Flow.Subscriber<List<ByteBuffer>>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
                for (ByteBuffer b : item) {
                    byte[] a = new byte[b.remaining()];
                    b.get(a);
                    bytes.writeBytes(a);
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                done.complete(bytes.toString(StandardCharsets.UTF_8));
            }
        });
        return done.get(30, TimeUnit.SECONDS);
    }
}
