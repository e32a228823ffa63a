package io.github.openaiproxy.core.normalize;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.error.ProxyError;

/** The outcome of normalizing a simple-route body: the body to send upstream, or why it is refused. */
public sealed interface Normalized {
    /**
     * A body ready for the upstream.
     *
     * @param upstreamPath the OpenAI path to call, for example {@code /v1/chat/completions}
     * @param body the normalized body
     * @param stream whether the client asked for a stream
     * @param model the model the body names
     */
    record Accepted(String upstreamPath, ObjectNode body, boolean stream, String model) implements Normalized {}

    /** A body the proxy refuses with a 400. */
    record Rejected(ProxyError error) implements Normalized {}
}
