package io.github.openaiproxy.core.error;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * An error the proxy answers itself, independent of its JSON shape (see {@link ErrorStyle}).
 *
 * @param status the HTTP status
 * @param title a short title, the {@code error} field of the simple routes' shape
 * @param message a sentence for humans; never contains a key
 * @param type OpenAI's error type, for example {@code invalid_request_error}
 * @param code a stable machine-readable code, for example {@code invalid_json}
 * @param param the request field at fault, or {@code null}
 * @param upstreamStatus the upstream status when this error wraps an upstream error, else {@code null}
 * @param headers extra response headers, for example {@code Allow}
 */
public record ProxyError(
        int status,
        String title,
        String message,
        String type,
        String code,
        String param,
        Integer upstreamStatus,
        Map<String, String> headers) {

    public ProxyError {
        Objects.requireNonNull(title, "title");
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(type, "type");
        headers = Map.copyOf(headers);
    }

    private static ProxyError of(int status, String title, String message, String type, String code) {
        return new ProxyError(status, title, message, type, code, null, null, Map.of());
    }

    /** 400 for a body that is not what the route accepts. */
    public static ProxyError badRequest(String title, String message, String param) {
        return new ProxyError(400, title, message, "invalid_request_error", "invalid_request", param, null, Map.of());
    }

    /** 400 for a body that is not valid JSON. */
    public static ProxyError invalidJson() {
        return new ProxyError(
                400,
                "Invalid JSON",
                "Request body is not valid JSON",
                "invalid_request_error",
                "invalid_json",
                null,
                null,
                Map.of());
    }

    /** 400 for a body that is JSON but not an object. */
    public static ProxyError notAnObject(String found) {
        return new ProxyError(
                400,
                "Invalid request body",
                "Request body must be a JSON object, got " + found,
                "invalid_request_error",
                "invalid_json",
                null,
                null,
                Map.of());
    }

    /** 403 when a client sends its own key but client keys are disabled. */
    public static ProxyError clientKeyDisabled() {
        return of(
                403,
                "Forbidden",
                "Client-supplied API keys (x-openai-key) are disabled on this proxy",
                "permission_error",
                "client_key_disabled");
    }

    /** 400 for an {@code x-openai-key} that cannot be sent in a header; never quotes the key. */
    public static ProxyError invalidClientKey() {
        return of(
                400,
                "Invalid API Key",
                "The key in x-openai-key contains characters that cannot be sent upstream (only printable ASCII)",
                "invalid_request_error",
                "invalid_client_key");
    }

    /**
     * 401 for a request without a valid identity: a wrong, expired or revoked proxy key, a refused JWT, or no
     * credential when anonymous callers are refused. One fixed message for every case, so the answer tells a
     * caller nothing about which keys exist (the reason is logged at DEBUG). OpenAI's code, so the SDKs raise
     * their authentication error.
     */
    public static ProxyError unauthorized() {
        return new ProxyError(
                401,
                "Unauthorized",
                "Missing or invalid credentials for this proxy",
                "invalid_request_error",
                "invalid_api_key",
                null,
                null,
                Map.of("WWW-Authenticate", "Bearer"));
    }

    /** 503 when a credential could not be checked (its store or the JWT issuer's key set is unreachable). */
    public static ProxyError credentialCheckUnavailable() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "Credentials cannot be checked right now; retry shortly",
                "server_error",
                "credential_check_unavailable",
                null,
                null,
                Map.of("Retry-After", "1"));
    }

    /**
     * 503 for a request the proxy is not sending upstream because it is shutting down: a client (or a load
     * balancer) retries it, on another instance or after the restart.
     */
    public static ProxyError shuttingDown() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The proxy is shutting down; retry shortly",
                "server_error",
                "shutting_down",
                null,
                null,
                Map.of("Retry-After", "1"));
    }

    /** 503 when the image store fails: its own message (which may name paths or tables) stays in the log. */
    public static ProxyError imageStoreUnavailable() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The image store is unavailable",
                "server_error",
                "image_store_unavailable",
                null,
                null,
                Map.of("Retry-After", "5"));
    }

    /** 403 for a cross-origin request from an origin that is not allowed. */
    public static ProxyError originNotAllowed() {
        return of(
                403, "Forbidden", "Origin is not allowed by the CORS policy", "permission_error", "origin_not_allowed");
    }

    /** 403 for a request addressed to a host the proxy does not answer to (DNS rebinding). */
    public static ProxyError hostNotAllowed() {
        return of(
                403,
                "Forbidden",
                "The request's Host is not one this proxy answers to",
                "permission_error",
                "host_not_allowed");
    }

    /** 403 for a preflight that asks for a method or header the policy does not allow. */
    public static ProxyError preflightRejected(String detail) {
        return of(403, "Forbidden", "CORS preflight rejected: " + detail, "permission_error", "cors_rejected");
    }

    /** 404 for a path that is no route of the proxy. */
    public static ProxyError notFound(String method, String path) {
        return of(
                404,
                "Not Found",
                "No route for " + method + " " + truncate(path, 200),
                "invalid_request_error",
                "unknown_url");
    }

    /** 405 with the {@code Allow} header. */
    public static ProxyError methodNotAllowed(String method, String allow) {
        return new ProxyError(
                405,
                "Method Not Allowed",
                "Method " + truncate(method, 20) + " is not allowed here; allowed: " + allow,
                "invalid_request_error",
                "method_not_allowed",
                null,
                null,
                Map.of("Allow", allow));
    }

    /**
     * 501 for a WebSocket handshake (the Realtime API's transport): the proxy relays HTTP only. Not 426, which asks
     * the client to switch to another protocol, nor 400, which says the request was malformed: WebSocket clients show
     * little but the status, and this one says the server does not do it. With {@code x-should-retry: false}: it
     * lasts as long as the deployment.
     */
    public static ProxyError webSocketNotSupported() {
        return new ProxyError(
                501,
                "Not Implemented",
                "This proxy does not accept WebSocket connections (such as the Realtime API's); it relays HTTP only",
                "invalid_request_error",
                "websocket_not_supported",
                null,
                null,
                Map.of("x-should-retry", "false"));
    }

    /** 413 for a body over the limit. */
    public static ProxyError payloadTooLarge(long limit) {
        return of(
                413,
                "Payload Too Large",
                "Request body exceeds the limit of " + limit + " bytes",
                "invalid_request_error",
                "request_too_large");
    }

    /** 415 for a compressed body on a route that reads the body itself (pass-through relays it as sent). */
    public static ProxyError unsupportedContentEncoding(String contentEncoding) {
        return of(
                415,
                "Unsupported Media Type",
                "Content-Encoding " + truncate(contentEncoding, 50) + " is not supported here; send the body"
                        + " uncompressed",
                "invalid_request_error",
                "unsupported_content_encoding");
    }

    /** 415 for a body that is not declared as JSON. */
    public static ProxyError unsupportedMediaType(String contentType) {
        return of(
                415,
                "Unsupported Media Type",
                "Content-Type must be application/json, got " + truncate(contentType, 100),
                "invalid_request_error",
                "unsupported_media_type");
    }

    /**
     * 500 when no key is configured (the seed's message), with {@code x-should-retry: false}: the SDKs retry a 500,
     * and this one lasts until the deployment is fixed.
     */
    public static ProxyError keyNotConfigured() {
        return new ProxyError(
                500,
                "Configuration Error",
                "OpenAI API key is not configured",
                "server_error",
                "api_key_missing",
                null,
                null,
                Map.of("x-should-retry", "false"));
    }

    /**
     * 408 for a request body that did not arrive whole within {@code request-body-timeout}: a client that sends it
     * a byte at a time would otherwise hold a connection, a buffer and an upstream call for as long as it liked.
     */
    public static ProxyError requestTimeout(Duration timeout) {
        return of(
                408,
                "Request Timeout",
                "The request body did not arrive within " + timeout.toSeconds() + " s",
                "invalid_request_error",
                "request_timeout");
    }

    /** 500 for a failure inside the proxy; the message never carries details of the cause. */
    public static ProxyError internal() {
        return of(
                500,
                "Internal Server Error",
                "The proxy failed to handle the request",
                "server_error",
                "internal_error");
    }

    /** 502 when the upstream cannot be reached or broke the connection. */
    public static ProxyError upstreamUnreachable() {
        return of(502, "Bad Gateway", "Could not reach the upstream API", "server_error", "upstream_unreachable");
    }

    /**
     * 502 when the upstream answered with an event stream and lost the connection (or ended it) before its first
     * event: nothing of the answer was sent, so the client gets an error it can retry, with the code of the stream's
     * error event.
     */
    public static ProxyError upstreamDisconnected() {
        return of(
                502,
                "Bad Gateway",
                "The upstream connection was lost before the stream's first event",
                "server_error",
                "upstream_disconnected");
    }

    /** 502 when the upstream's successful answer is neither JSON nor an event stream (simple routes). */
    public static ProxyError upstreamUnexpectedContent() {
        return of(
                502,
                "Bad Gateway",
                "The upstream API answered with an unexpected content type",
                "server_error",
                "upstream_bad_content_type");
    }

    /** 504 when the upstream did not answer in time. */
    public static ProxyError upstreamTimeout() {
        return of(
                504, "Gateway Timeout", "The upstream API did not answer in time", "server_error", "upstream_timeout");
    }

    /** 429 when one client address has too many upstream calls in flight; retry shortly. */
    public static ProxyError tooManyConcurrentCalls() {
        return new ProxyError(
                429,
                "Too Many Requests",
                "Too many requests in flight from this client; retry after the others complete",
                "requests",
                "rate_limit_exceeded",
                null,
                null,
                Map.of("Retry-After", "1"));
    }

    /** 503 when the proxy has as many upstream calls in flight as it allows; retry shortly. */
    public static ProxyError overloaded() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The proxy is handling as many requests as it allows; retry shortly",
                "server_error",
                "server_overloaded",
                null,
                null,
                Map.of("Retry-After", "1"));
    }

    /** The seed's wrapper for an upstream error on the simple routes. */
    public static ProxyError upstreamError(int status, String maskedBody) {
        return new ProxyError(
                status,
                "OpenAI API Error",
                // An empty body (a 503 from a load balancer) leaves no dangling ": ".
                "OpenAI API returned " + status + (maskedBody == null || maskedBody.isBlank() ? "" : ": " + maskedBody),
                "upstream_error",
                "upstream_error",
                null,
                status,
                Map.of());
    }

    /**
     * An upstream 401 or 403, which is about the key: a fixed message in place of the upstream's, which
     * echoes the key and, in other cases, client text (see {@code SecretMasker}). The upstream's own
     * message is only logged.
     *
     * @param status 401 or 403
     * @param clientKey whether the request carried the client's own key ({@code x-openai-key})
     * @param style the route's error style: the seed's wrapper, or OpenAI's shape with its codes
     */
    public static ProxyError upstreamKeyRefused(int status, boolean clientKey, ErrorStyle style) {
        String whose = clientKey ? "the API key sent in x-openai-key" : "the proxy's API key";
        String text = status == 401
                ? "The upstream API refused " + whose
                : "The upstream API denied " + whose + " access to this request";
        if (style == ErrorStyle.SIMPLE) {
            return upstreamError(status, text);
        }
        boolean unauthorized = status == 401;
        return new ProxyError(
                status,
                "OpenAI API Error",
                text + ".",
                unauthorized ? "invalid_request_error" : "permission_error",
                unauthorized ? "invalid_api_key" : "permission_denied",
                null,
                status,
                Map.of());
    }

    private static String truncate(String s, int max) {
        if (s == null) {
            return "";
        }
        return s.length() <= max ? s : s.substring(0, max) + "...";
    }
}
