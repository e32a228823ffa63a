package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.HeaderMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the responses the proxy answers itself, each with the CORS headers of the request,
 * {@code Vary} and {@code X-Content-Type-Options}. One instance per request.
 */
public final class ResponseFactory {
    public static final String JSON = "application/json";
    private static final List<String> VARY = List.of(CorsPolicy.vary());
    private static final List<String> NOSNIFF = List.of("nosniff");

    private final ErrorStyle style;
    private final Map<String, String> corsHeaders;

    public ResponseFactory(ErrorStyle style, Map<String, String> corsHeaders) {
        this.style = style;
        this.corsHeaders = Map.copyOf(corsHeaders);
    }

    public ErrorStyle style() {
        return style;
    }

    /** Headers every response of this request starts with. */
    public HeaderMap baseHeaders() {
        return commonHeaders().setAll(corsHeaders);
    }

    /**
     * Headers every response of the proxy carries, whatever its request: {@code Vary} and
     * {@code X-Content-Type-Options: nosniff} (a browser must never run a relayed body as a script or
     * page). Constant values, shared between responses.
     */
    public static HeaderMap commonHeaders() {
        return new HeaderMap().setShared("Vary", VARY).setShared("X-Content-Type-Options", NOSNIFF);
    }

    public ProxyResponse error(ProxyError error) {
        return error(error, style);
    }

    public ProxyResponse error(ProxyError error, ErrorStyle as) {
        byte[] body = as.render(error);
        HeaderMap h = baseHeaders().setAll(error.headers());
        h.set("Content-Type", JSON).set("Content-Length", Integer.toString(body.length));
        h.set("Cache-Control", "no-store");
        return ProxyResponse.of(error.status(), h.build(), body);
    }

    /** An empty answer with the given headers (preflights). */
    public static ProxyResponse empty(int status, HeaderMap headers) {
        headers.set("Content-Length", "0");
        return ProxyResponse.of(status, headers.build(), Bodies.empty());
    }
}
