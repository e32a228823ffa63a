package io.github.openaiproxy.core.testing;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Optional;
import javax.net.ssl.SSLSession;

/**
 * An engine's answer in the shape of the JDK client's {@link HttpResponse}, so the tables read the same
 * in process as over HTTP.
 */
public record EngineResponse<T>(int statusCode, HttpHeaders headers, T body, HttpRequest request)
        implements HttpResponse<T> {
    @Override
    public Optional<HttpResponse<T>> previousResponse() {
        return Optional.empty();
    }

    @Override
    public Optional<SSLSession> sslSession() {
        return Optional.empty();
    }

    @Override
    public URI uri() {
        return request.uri();
    }

    @Override
    public HttpClient.Version version() {
        return HttpClient.Version.HTTP_1_1;
    }
}
