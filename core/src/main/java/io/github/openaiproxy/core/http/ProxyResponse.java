package io.github.openaiproxy.core.http;

import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
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

    /**
     * A builder for a response with this status, for a {@link io.github.openaiproxy.core.route.CustomRoute}
     * or a {@link io.github.openaiproxy.core.RequestStep} that answers itself:
     * {@code ProxyResponse.builder(201).json(bytes).build()}.
     */
    public static Builder builder(int status) {
        return new Builder(status);
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

    /**
     * Builds a {@link ProxyResponse}: a status, headers (names case-insensitive; setting one replaces its
     * values) and a body held in memory or a stream of events. Without a body the response is empty.
     */
    public static final class Builder {
        private static final List<String> NO_STORE = List.of("no-store");

        private final int status;
        private final HeaderMap headers = new HeaderMap();
        private Flow.Publisher<List<ByteBuffer>> body;
        private boolean streaming;

        private Builder(int status) {
            if (status < 100 || status > 999) {
                throw new IllegalArgumentException("not an HTTP status: " + status);
            }
            this.status = status;
        }

        /** Sets a header, replacing its values. */
        public Builder header(String name, String value) {
            headers.set(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /** Sets each of these headers, replacing their values. */
        public Builder headers(java.util.Map<String, String> headers) {
            headers.forEach(this::header);
            return this;
        }

        /** The body, in memory; sets {@code Content-Length}. */
        public Builder body(byte[] bytes) {
            Objects.requireNonNull(bytes, "bytes");
            headers.set("Content-Length", Integer.toString(bytes.length));
            this.body = Bodies.responseOf(bytes);
            this.streaming = false;
            return this;
        }

        /**
         * A JSON body, in memory: sets {@code Content-Type: application/json} unless a content type was set
         * already (a {@code +json} type, a charset), and {@code Cache-Control: no-store} unless set.
         */
        public Builder json(byte[] utf8Json) {
            if (!headers.contains("Content-Type")) {
                headers.set("Content-Type", "application/json");
            }
            if (!headers.contains("Cache-Control")) {
                headers.setShared("Cache-Control", NO_STORE);
            }
            return body(utf8Json);
        }

        /**
         * A stream of Server-Sent Events, each item one complete event the adapter flushes at once: sets
         * {@code Content-Type: text/event-stream; charset=utf-8}, {@code Cache-Control: no-cache} and
         * {@code X-Accel-Buffering: no} (so that a reverse proxy does not hold events back).
         */
        public Builder events(Flow.Publisher<List<ByteBuffer>> events) {
            this.body = Objects.requireNonNull(events, "events");
            this.streaming = true;
            headers.set("Content-Type", "text/event-stream; charset=utf-8");
            headers.set("Cache-Control", "no-cache");
            headers.set("X-Accel-Buffering", "no");
            return this;
        }

        public ProxyResponse build() {
            return new ProxyResponse(
                    status, headers.build(), body != null ? body : Bodies.responseOf(Bodies.empty()), streaming);
        }
    }

    @Override
    public String toString() {
        return "ProxyResponse[" + status + (streaming ? ", streaming" : "") + "]";
    }
}
