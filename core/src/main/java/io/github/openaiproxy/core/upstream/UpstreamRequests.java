package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.keys.ApiKey;
import java.net.http.HttpHeaders;
import java.util.List;

/**
 * Builds upstream requests with only safe headers: the resolved key, content type and accept, the
 * configured organization and project, and a few OpenAI headers the SDKs use. Client credentials,
 * cookies, {@code x-openai-key} and hop-by-hop headers never reach the upstream.
 */
@Internal
public final class UpstreamRequests {
    /** Client headers relayed to the upstream on the pass-through routes. */
    static final List<String> FORWARDED = List.of("openai-beta", "idempotency-key", "content-encoding");

    private static final String USER_AGENT = "openai-proxy-java";

    private final UpstreamConfig config;

    public UpstreamRequests(UpstreamConfig config) {
        this.config = config;
    }

    /**
     * A request for a simple route, whose body the proxy wrote.
     *
     * @param path the OpenAI path, for example {@code /v1/chat/completions}
     * @param body the JSON body
     * @param stream whether the body asks for a stream
     * @param key the resolved key
     */
    public UpstreamRequest json(String path, byte[] body, boolean stream, ApiKey key) {
        HeaderMap h = base(key);
        h.set("Content-Type", "application/json");
        h.set("Accept", stream ? "text/event-stream" : "application/json");
        return new UpstreamRequest("POST", config.resolve(path, null), h.build(), body);
    }

    /**
     * A pass-through request: the client's body bytes unchanged.
     *
     * @param method the HTTP method
     * @param path the OpenAI path as the client sent it (still encoded)
     * @param rawQuery the client's raw query, or {@code null}
     * @param clientHeaders the client's headers (only safe ones are copied)
     * @param body the body bytes
     * @param key the resolved key
     */
    public UpstreamRequest passThrough(
            String method, String path, String rawQuery, HttpHeaders clientHeaders, byte[] body, ApiKey key) {
        return passThrough(method, path, rawQuery, clientHeaders, body, null, key);
    }

    /**
     * A pass-through request whose body streams from the client to the upstream unchanged.
     *
     * @param streamed the client's body as it arrives
     */
    public UpstreamRequest passThrough(
            String method,
            String path,
            String rawQuery,
            HttpHeaders clientHeaders,
            UpstreamRequest.StreamedBody streamed,
            ApiKey key) {
        return passThrough(method, path, rawQuery, clientHeaders, Bodies.empty(), streamed, key);
    }

    private UpstreamRequest passThrough(
            String method,
            String path,
            String rawQuery,
            HttpHeaders clientHeaders,
            byte[] body,
            UpstreamRequest.StreamedBody streamed,
            ApiKey key) {
        HeaderMap h = base(key);
        if (body.length > 0 || streamed != null) {
            h.set("Content-Type", clientHeaders.firstValue("content-type").orElse("application/json"));
        }
        h.set("Accept", clientHeaders.firstValue("accept").orElse("application/json"));
        for (String name : FORWARDED) {
            clientHeaders.allValues(name).forEach(v -> h.add(name, v));
        }
        return new UpstreamRequest(method, config.resolve(path, rawQuery), h.build(), body, streamed);
    }

    private HeaderMap base(ApiKey key) {
        HeaderMap h = new HeaderMap();
        h.set("Authorization", "Bearer " + key.reveal());
        h.set("User-Agent", USER_AGENT);
        config.organization().ifPresent(o -> h.set("OpenAI-Organization", o));
        config.project().ifPresent(p -> h.set("OpenAI-Project", p));
        return h;
    }
}
