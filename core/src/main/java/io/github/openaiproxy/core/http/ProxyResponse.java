package io.github.openaiproxy.core.http;

import io.github.openaiproxy.core.internal.Bodies;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Flow;

/**
 * What the engine answers: a status, headers and a body publisher that the adapter writes out.
 *
 * <p>Each item the body publishes is a list of buffers that belong together. When {@link #streaming()}
 * is {@code true} every item is one complete Server-Sent Event and the adapter must flush after writing
 * it. The adapter must subscribe to the body exactly once, also when the client has gone away (it then
 * cancels the subscription right away), so that the upstream connection is released.
 */
public final class ProxyResponse {
    private final int status;
    private final HttpHeaders headers;
    private final Flow.Publisher<List<ByteBuffer>> body;
    private final boolean streaming;

    /**
     * Creates a response.
     *
     * @param status the HTTP status
     * @param headers headers to send, including {@code content-type} and, where known, {@code content-length}
     * @param body the body; each item is written as one unit
     * @param streaming whether the adapter must flush after every item
     */
    public ProxyResponse(int status, HttpHeaders headers, Flow.Publisher<List<ByteBuffer>> body, boolean streaming) {
        this.status = status;
        this.headers = Objects.requireNonNull(headers, "headers");
        this.body = Objects.requireNonNull(body, "body");
        this.streaming = streaming;
    }

    /** A response whose body is already in memory. */
    public static ProxyResponse of(int status, HttpHeaders headers, byte[] body) {
        return new ProxyResponse(status, headers, Bodies.responseOf(body), false);
    }

    public int status() {
        return status;
    }

    public HttpHeaders headers() {
        return headers;
    }

    public Flow.Publisher<List<ByteBuffer>> body() {
        return body;
    }

    /** Whether the body is an event stream whose items must each be flushed as soon as written. */
    public boolean streaming() {
        return streaming;
    }

    /**
     * Releases the body without reading it (subscribes and cancels), for a client that went away
     * before the response could be written. Call instead of subscribing.
     */
    public void discard() {
        Bodies.discard(body);
    }

    /**
     * This response's status and headers (its {@code Content-Length} included) without a body, for a
     * {@code HEAD} request; the body is discarded.
     */
    public ProxyResponse withoutBody() {
        discard();
        return new ProxyResponse(status, headers, Bodies.responseOf(Bodies.empty()), false);
    }

    /**
     * This response with one header set (replacing its values), the same body; for a
     * {@link io.github.openaiproxy.core.RequestStep} that adds a header before the response is written.
     */
    public ProxyResponse withHeader(String name, String value) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(value, "value");
        java.util.Map<String, List<String>> map = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        map.putAll(headers.map());
        map.put(name, List.of(value));
        return new ProxyResponse(status, HttpHeaders.of(map, (n, v) -> true), body, streaming);
    }

    @Override
    public String toString() {
        return "ProxyResponse[" + status + (streaming ? ", streaming" : "") + "]";
    }
}
