package io.github.openaiproxy.core.upstream;

import java.util.concurrent.CompletableFuture;

/**
 * Calls the upstream API without blocking a thread. Implementations must complete the future when the
 * response headers arrive (or with an {@link UpstreamFailure}), leave the body unread until it is
 * subscribed, and abort the exchange when the returned future is cancelled. A request with a
 * {@link UpstreamRequest#streamedBody()} (a pass-through body) must be sent as that body publishes
 * (subscribed once, with its declared length when there is one, else chunked), and an error it signals
 * must abort the call.
 */
public interface UpstreamClient extends AutoCloseable {
    /** Sends a request; the future completes with the response headers and an unread body. */
    CompletableFuture<UpstreamResponse> send(UpstreamRequest request);

    /** The client {@link UpstreamConfig#client()} asks for. */
    static UpstreamClient create(UpstreamConfig config) {
        return switch (config.client()) {
            case JDK -> jdk(config);
            case JETTY -> jetty(config);
            case AUTO -> JettyPresence.onClassPath() ? jetty(config) : jdk(config);
        };
    }

    /** The client on the JDK's {@link java.net.http.HttpClient}. */
    static UpstreamClient jdk(UpstreamConfig config) {
        return JdkUpstreamClient.create(config);
    }

    /**
     * The client on Jetty's {@code HttpClient}.
     *
     * @throws IllegalStateException if {@code org.eclipse.jetty:jetty-client} is not on the class path
     */
    static UpstreamClient jetty(UpstreamConfig config) {
        if (!JettyPresence.onClassPath()) {
            throw new IllegalStateException(
                    "upstream-client is jetty, but org.eclipse.jetty:jetty-client is not on the class path");
        }
        return JettyUpstreamClient.create(config);
    }

    /** Releases connections and threads. */
    @Override
    void close();
}
