package io.github.openaiproxy.graphql;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.keys.KeyPolicy;
import io.github.openaiproxy.core.route.RouteCall;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * Sub-requests through the proxy's own routes, on behalf of a GraphQL call: same normalization,
 * validation, keys and upstream client as REST. The caller's {@code x-openai-key} goes along, so client
 * keys work (or are refused) exactly as on REST.
 */
final class SubRequests {
    /** Exactly one JSON value per body: "{...} trailing" is not a request. */
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    /** A JSON answer larger than this is not read (image answers with several base64 images stay below). */
    static final int MAX_BODY = 64 * 1024 * 1024;
    /** The W3C trace context headers a sub-request carries on. */
    private static final List<String> TRACE_CONTEXT = List.of("traceparent", "tracestate");

    private SubRequests() {}

    /** A whole answer read into memory. */
    record Reply(int status, java.net.http.HttpHeaders headers, byte[] body) {
        JsonNode json() {
            try {
                JsonNode n = JSON.readTree(body);
                return n == null ? JSON.missingNode() : n;
            } catch (IOException e) {
                return JSON.missingNode();
            }
        }

        String header(String name) {
            return headers.firstValue(name).orElse(null);
        }
    }

    /** A sub-request without a body. */
    static ProxyRequest request(RouteCall call, String method, String path, String rawQuery) {
        return request(call, method, path, rawQuery, null, 0);
    }

    /** A sub-request with {@code body} (none when {@code null}), refused past {@code limit} bytes (see {@link #body}). */
    static ProxyRequest request(
            RouteCall call, String method, String path, String rawQuery, JsonNode body, long limit) {
        ProxyRequest.Builder b = ProxyRequest.builder(method, path).rawQuery(rawQuery);
        call.request().basePath().ifPresent(b::basePath); // stored images' links start with it
        if (body != null) {
            body(b, body, limit);
        }
        java.net.http.HttpHeaders client = call.request().headers();
        client.allValues(KeyPolicy.CLIENT_KEY_HEADER).forEach(v -> b.header(KeyPolicy.CLIENT_KEY_HEADER, v));
        // The caller's W3C trace context: the sub-request's span continues the browser's trace.
        for (String name : TRACE_CONTEXT) {
            client.firstValue(name).ifPresent(v -> b.header(name, v));
        }
        return b.build();
    }

    /**
     * Sets {@code body} as the sub-request's JSON body, written no further than {@code limit} bytes. A GraphQL
     * document can name one variable many times ({@code [$m, $m, ...]}), so a small request could make a body of
     * gigabytes: past the limit it is not built, and the sub-request declares a length over the limit with no
     * bytes, which the engine refuses as it refuses such a body from a client (413, before reading any).
     */
    static void body(ProxyRequest.Builder b, JsonNode body, long limit) {
        CappedBuffer out = new CappedBuffer(limit);
        try {
            JSON.writeValue(out, body);
        } catch (IOException | RuntimeException e) { // Jackson may wrap the overflow
            if (!out.over) {
                throw new IllegalStateException("cannot write a sub-request body", e);
            }
            b.header("Content-Type", "application/json").header("Content-Length", Long.toString(limit + 1));
            return;
        }
        b.header("Content-Type", "application/json").body(out.toByteArray());
    }

    /** Dispatches and reads the whole answer. */
    static CompletableFuture<Reply> send(RouteCall call, ProxyRequest request) {
        return call.dispatch(request).thenCompose(SubRequests::read);
    }

    static CompletableFuture<Reply> read(ProxyResponse r) {
        CompletableFuture<Reply> out = new CompletableFuture<>();
        r.body().subscribe(new Flow.Subscriber<>() {
            private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            private Flow.Subscription subscription;

            @Override
            public void onSubscribe(Flow.Subscription s) {
                subscription = s;
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
                for (ByteBuffer b : item) {
                    ByteBuffer d = b.duplicate();
                    if (bytes.size() + d.remaining() > MAX_BODY) {
                        subscription.cancel();
                        out.completeExceptionally(new IOException("answer over " + MAX_BODY + " bytes"));
                        return;
                    }
                    byte[] a = new byte[d.remaining()];
                    d.get(a);
                    bytes.writeBytes(a);
                }
            }

            @Override
            public void onError(Throwable t) {
                out.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                out.complete(new Reply(r.status(), r.headers(), bytes.toByteArray()));
            }
        });
        return out;
    }
}
