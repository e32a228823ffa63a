package io.github.openaiproxy.servlet.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The test client: {@link HttpClient} over HTTP/1.1 (no h2c upgrade headers in the way) with generous
 * timeouts, so a proxy that hangs fails the test instead of blocking the build.
 */
public final class Http {
    /** Longest wait for any answer; far above what a loaded machine needs. */
    public static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(TIMEOUT)
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();

    private Http() {}

    /** A request builder with the test timeout. */
    public static HttpRequest.Builder request(URI uri) {
        return HttpRequest.newBuilder(uri).timeout(TIMEOUT);
    }

    /** Sends and reads the body as UTF-8 text. */
    public static HttpResponse<String> send(HttpRequest request) {
        return send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    /** Sends and keeps the body as bytes. */
    public static HttpResponse<byte[]> sendForBytes(HttpRequest request) {
        return send(request, HttpResponse.BodyHandlers.ofByteArray());
    }

    /**
     * Sends and waits for the whole response, body included, at most {@link #TIMEOUT} (the request
     * timeout of {@link HttpClient} stops counting once the headers are in).
     */
    public static <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler) {
        CompletableFuture<HttpResponse<T>> exchange = CLIENT.sendAsync(request, handler);
        try {
            return exchange.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            exchange.cancel(true);
            throw new AssertionError("no complete response to " + request + " within " + TIMEOUT, e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw new UncheckedIOException(io);
            }
            throw new IllegalStateException(cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** {@code POST} of a JSON body with {@code Content-Type: application/json} and extra header pairs. */
    public static HttpResponse<String> postJson(URI uri, String json, String... headerPairs) {
        HttpRequest.Builder b = request(uri)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        return send(headers(b, headerPairs).build());
    }

    /** {@code GET} with extra header pairs. */
    public static HttpResponse<String> get(URI uri, String... headerPairs) {
        return send(headers(request(uri).GET(), headerPairs).build());
    }

    /**
     * Any method, with a body when {@code body} is not {@code null} (no {@code Content-Type} is added:
     * pass one in the header pairs).
     */
    public static HttpResponse<String> call(String method, URI uri, String body, String... headerPairs) {
        HttpRequest.BodyPublisher publisher = body == null
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8);
        return send(headers(request(uri).method(method, publisher), headerPairs).build());
    }

    /** Adds {@code name, value, name, value, ...} pairs. */
    public static HttpRequest.Builder headers(HttpRequest.Builder b, String... headerPairs) {
        if (headerPairs.length % 2 != 0) {
            throw new IllegalArgumentException("header pairs must come as name, value");
        }
        for (int i = 0; i < headerPairs.length; i += 2) {
            b.header(headerPairs[i], headerPairs[i + 1]);
        }
        return b;
    }
}
