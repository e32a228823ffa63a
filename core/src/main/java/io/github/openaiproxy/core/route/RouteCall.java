package io.github.openaiproxy.core.route;

import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;

/** One call to a {@link CustomRoute}. */
public interface RouteCall {
    /** The request (its body has been read: use {@link #body()}). */
    ProxyRequest request();

    /** The request body, read up to the configured limit; empty for GET. */
    byte[] body();

    /**
     * Runs a request through the proxy's own routes, for example a chat on {@code POST /}: same
     * normalization, validation, key resolution and upstream client as REST. Copy the caller's
     * {@code x-openai-key} header onto it if client keys should apply. It runs for this call's {@link #identity()},
     * and counts against this call's client's concurrency cap by the address the proxy counted that client by: a
     * remote address set on {@code request} is replaced (kept only when the client's is unknown).
     */
    CompletableFuture<ProxyResponse> dispatch(ProxyRequest request);

    /** Who the request runs for; its {@link #dispatch dispatched} sub-requests run for the same identity. */
    Identity identity();
}
