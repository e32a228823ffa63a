package io.github.openaiproxy.core.upstream;

import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.Flow;

/**
 * A call to the upstream API. The headers are final: the client adds nothing but what its transport
 * requires.
 *
 * @param method the HTTP method
 * @param uri the full upstream URI
 * @param headers headers to send, {@code Authorization} included
 * @param body the body bytes, empty for none (and when the body is {@code streamedBody})
 * @param streamedBody a body sent as it arrives from the client, or {@code null} when the body is
 *     {@code body}
 */
public record UpstreamRequest(String method, URI uri, HttpHeaders headers, byte[] body, StreamedBody streamedBody) {
    public UpstreamRequest {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(headers, "headers");
        Objects.requireNonNull(body, "body");
        if (streamedBody != null && body.length > 0) {
            throw new IllegalArgumentException("a request has bytes or a streamed body, not both");
        }
    }

    /** A call whose body is in memory. */
    public UpstreamRequest(String method, URI uri, HttpHeaders headers, byte[] body) {
        this(method, uri, headers, body, null);
    }

    /**
     * A body the client streams, sent upstream as it arrives: with {@code Content-Length} when the length is
     * known, else chunked. The publisher may be subscribed once.
     *
     * @param publisher the bytes; an error aborts the upstream call
     * @param length the length the client declared, or {@code -1} when unknown
     */
    public record StreamedBody(Flow.Publisher<ByteBuffer> publisher, long length) {
        public StreamedBody {
            Objects.requireNonNull(publisher, "publisher");
        }
    }

    @Override
    public String toString() {
        // Never print headers: they carry the key.
        return "UpstreamRequest[" + method + " " + uri + ", "
                + (streamedBody == null ? body.length + " bytes" : "streamed body") + "]";
    }
}
