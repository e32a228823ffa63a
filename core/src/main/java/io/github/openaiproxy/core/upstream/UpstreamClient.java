package io.github.openaiproxy.core.upstream;

import java.util.concurrent.CompletableFuture;

/**
 * Calls the upstream API without blocking a thread. Implementations must complete the future when the
 * response headers arrive (or with an {@link UpstreamFailure}), leave the body unread until it is
 * subscribed, and abort the exchange when the returned future is cancelled.
 */
public interface UpstreamClient extends AutoCloseable {
    /** Sends a request; the future completes with the response headers and an unread body. */
    CompletableFuture<UpstreamResponse> send(UpstreamRequest request);

    /** The default client, on the JDK's {@link java.net.http.HttpClient}. */
    static UpstreamClient jdk(UpstreamConfig config) {
        return JdkUpstreamClient.create(config);
    }

    /** Releases connections and threads. */
    @Override
    void close();
}
