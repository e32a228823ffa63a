package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.keys.ApiKey;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Builds upstream requests with only safe headers: the resolved key, content type and accept, the
 * configured organization and project, and a few OpenAI headers the SDKs use. Client credentials,
 * cookies, {@code x-openai-key} and hop-by-hop headers never reach the upstream.
 */
@Internal
public final class UpstreamRequests {
    /** Client headers relayed to the upstream on the pass-through routes. */
    static final List<String> FORWARDED = List.of("openai-beta", "idempotency-key", "content-encoding");

    /**
     * Every client header a pass-through request may carry to the upstream: its content type and accept (the
     * first of each), and {@link #FORWARDED}.
     */
    public static final List<String> RELAYED_CLIENT_HEADERS =
            List.of("content-type", "accept", "openai-beta", "idempotency-key", "content-encoding");

    /**
     * The upstream is asked for answers as they are: the proxy decodes none (it reads a stream's events, an
     * answer's usage, an error's message), and without the header a server may pick any coding (RFC 9110).
     */
    static final String IDENTITY = "identity";

    private static final String USER_AGENT = "openai-proxy-java";

    /** Upstream addresses without a query, by path, so that a route's address is parsed once. */
    private static final int MAX_CACHED_URIS = 64;

    private final UpstreamConfig config;
    private final Map<String, URI> uris = new ConcurrentHashMap<>();
    /** The last key's {@code Authorization} value: the server key's, on almost every request. */
    private volatile Bearer lastBearer;

    private record Bearer(ApiKey key, String header) {
        @Override
        public String toString() {
            return "Bearer[" + key + "]"; // the key's own toString masks it; the header would not
        }
    }

    public UpstreamRequests(UpstreamConfig config) {
        this.config = config;
    }

    /**
     * {@link UpstreamConfig#resolve}, cached for paths without a query. The cache is bounded: paths come
     * from clients, and once it is full the others are resolved per request, as before.
     */
    private URI resolve(String path, String rawQuery) {
        if (rawQuery != null) {
            return config.resolve(path, rawQuery);
        }
        URI known = uris.get(path);
        if (known != null) {
            return known;
        }
        URI uri = config.resolve(path, null);
        if (uris.size() < MAX_CACHED_URIS) {
            uris.putIfAbsent(path, uri);
        }
        return uri;
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
        return new UpstreamRequest("POST", resolve(path, null), h.build(), body);
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
            h.set("Content-Type", orElse(HeaderMap.first(clientHeaders, "content-type"), "application/json"));
        }
        h.set("Accept", orElse(HeaderMap.first(clientHeaders, "accept"), "application/json"));
        for (String name : FORWARDED) {
            List<String> values = clientHeaders.map().get(name);
            if (values != null) {
                values.forEach(v -> h.add(name, v));
            }
        }
        return new UpstreamRequest(method, resolve(path, rawQuery), h.build(), body, streamed);
    }

    private static String orElse(String value, String otherwise) {
        return value != null ? value : otherwise;
    }

    private String bearer(ApiKey key) {
        Bearer last = lastBearer;
        if (last == null || last.key() != key) {
            last = new Bearer(key, "Bearer " + key.reveal());
            lastBearer = last;
        }
        return last.header();
    }

    private HeaderMap base(ApiKey key) {
        HeaderMap h = new HeaderMap();
        h.set("Authorization", bearer(key));
        h.set("User-Agent", USER_AGENT);
        h.set("Accept-Encoding", IDENTITY);
        config.organization().ifPresent(o -> h.set("OpenAI-Organization", o));
        config.project().ifPresent(p -> h.set("OpenAI-Project", p));
        return h;
    }
}
