package io.github.openaiproxy.core.testing;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * An engine answering requests in process, handed over the way a servlet container hands them: the
 * {@code Host} header, the request's origin, the peer address and a {@code Content-Length} for a body.
 * The behaviour tables of the engine run against it; what only a real container can show (framing,
 * disconnects, flushing) is tested over HTTP in servlet-adapter.
 */
public final class EngineServer implements AutoCloseable {
    /** The authority the in-process "container" pretends to listen on. */
    public static final String AUTHORITY = "127.0.0.1:8080";

    private final ProxyEngine engine;

    private EngineServer(ProxyEngine engine) {
        this.engine = engine;
    }

    /** Starts an engine with this configuration. */
    public static EngineServer of(ProxyConfig config) {
        return new EngineServer(ProxyEngine.create(config));
    }

    public ProxyEngine engine() {
        return engine;
    }

    /** The origin a same-origin page of this server sends. */
    public String origin() {
        return "http://" + AUTHORITY;
    }

    /** A path (with an optional query) on this server, for {@link EngineHttp}. */
    public Target uri(String pathAndQuery) {
        return new Target(this, pathAndQuery);
    }

    /** A path with its query on one server. */
    public record Target(EngineServer server, String pathAndQuery) {}

    /**
     * Sends one request and reads the whole answer.
     *
     * @param body the body, or {@code null} for none
     * @param headerPairs {@code name, value, name, value, ...}
     */
    EngineResponse<byte[]> exchange(String method, String pathAndQuery, byte[] body, String... headerPairs) {
        if (headerPairs.length % 2 != 0) {
            throw new IllegalArgumentException("header pairs must come as name, value");
        }
        int q = pathAndQuery.indexOf('?');
        String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
        ProxyRequest.Builder b = ProxyRequest.builder(method, path)
                .rawQuery(q < 0 ? null : pathAndQuery.substring(q + 1))
                .requestOrigin(origin())
                .remoteAddress("127.0.0.1")
                .header("Host", AUTHORITY);
        for (int i = 0; i < headerPairs.length; i += 2) {
            b.header(headerPairs[i], headerPairs[i + 1]);
        }
        if (body != null) {
            // What a client's HTTP stack declares for a body it knows the size of.
            b.header("Content-Length", Integer.toString(body.length)).body(body);
        }
        try {
            ProxyResponse response = engine.handle(b.build()).get(30, TimeUnit.SECONDS);
            Answer a = Answer.of(response);
            HttpRequest request = HttpRequest.newBuilder(uriFor(pathAndQuery))
                    .method(
                            method,
                            body == null
                                    ? HttpRequest.BodyPublishers.noBody()
                                    : HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            return new EngineResponse<>(a.status(), a.headers(), a.body().bytes(), request);
        } catch (Exception e) {
            throw new AssertionError("the engine did not answer " + method + " " + pathAndQuery, e);
        }
    }

    /** The URI a client would have called; a target that is no valid URI (a test of bad encoding) as the origin. */
    private URI uriFor(String pathAndQuery) {
        try {
            return new URI(origin() + pathAndQuery);
        } catch (URISyntaxException e) {
            return URI.create(origin());
        }
    }

    /** The same with a UTF-8 text body. */
    EngineResponse<String> exchangeText(String method, String pathAndQuery, byte[] body, String... headerPairs) {
        EngineResponse<byte[]> r = exchange(method, pathAndQuery, body, headerPairs);
        return new EngineResponse<>(
                r.statusCode(), r.headers(), new String(r.body(), StandardCharsets.UTF_8), r.request());
    }

    @Override
    public void close() {
        engine.close();
    }
}
