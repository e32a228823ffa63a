package io.github.openaiproxy.core.upstream;

import java.net.URI;
import java.net.http.HttpHeaders;
import java.util.Objects;

/**
 * A call to the upstream API. The headers are final: the client adds nothing but what its transport
 * requires.
 *
 * @param method the HTTP method
 * @param uri the full upstream URI
 * @param headers headers to send, {@code Authorization} included
 * @param body the body bytes, empty for none
 */
public record UpstreamRequest(String method, URI uri, HttpHeaders headers, byte[] body) {
    public UpstreamRequest {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(headers, "headers");
        Objects.requireNonNull(body, "body");
    }

    @Override
    public String toString() {
        // Never print headers: they carry the key.
        return "UpstreamRequest[" + method + " " + uri + ", " + body.length + " bytes]";
    }
}
