package io.github.openaiproxy.core.upstream;

import java.util.concurrent.CompletableFuture;

/**
 * Calls the upstream API without blocking a thread. Implementations must complete the future when the
 * response headers arrive (or with an {@link UpstreamFailure}), leave the body unread until it is
 * subscribed, and abort the exchange when the returned future is cancelled. A request with a
 * {@link UpstreamRequest#streamedBody()} (a pass-through body) must be sent as that body publishes
 * (subscribed once, with its declared length when there is one, else chunked), and an error it signals
 * must abort the call.
 *
 * <p>The client owns the timeouts: it fails the call with an {@link UpstreamFailure} of kind
 * {@link UpstreamFailure.Kind#TIMEOUT} (the caller gets 504) when the upstream has not connected within its
 * configuration's {@code connectTimeout}, or not sent its response headers within its {@code responseTimeout}. The
 * engine sets no deadline of its own: a future that never completes holds the caller's request and connection,
 * possibly for ever (Tomcat does not notice a client that leaves before the answer's headers). A future failed with any other exception is a 502; a {@code send} that throws or returns {@code null} is
 * a bug, answered 500. The test kit's {@code UpstreamClientContract} checks an implementation.
 */
public interface UpstreamClient extends AutoCloseable {
    /** Sends a request; the future completes with the response headers and an unread body. */
    CompletableFuture<UpstreamResponse> send(UpstreamRequest request);

    /**
     * A client like this one with other timeouts, for a named upstream's own {@code connect-timeout} and
     * {@code timeout} (to the response headers). The caller closes the returned client when it is not this one.
     * The proxy's own clients make a new client only for another connect timeout (the client's own); with only
     * another response timeout, which is applied per request, they return a view on this client: the same
     * connections and threads, usable while this one is open, whose {@code close} closes nothing. The JDK's and
     * Jetty's given an application's own client reuse it with the new response timeout, its own connect timeout
     * kept. By default, for another implementation, this client as it is.
     *
     * @param connectTimeout the time to connect
     * @param responseTimeout the time to the response headers
     */
    default UpstreamClient withTimeouts(java.time.Duration connectTimeout, java.time.Duration responseTimeout) {
        return this;
    }

    /**
     * A client like this one with other timeouts and another HTTP version, for a named upstream's own {@code
     * connect-timeout}, {@code timeout} and {@code http-version}. The caller closes the returned client when it is
     * not this one. The proxy's own clients make a new client only when the connect timeout differs, or for Jetty's
     * when the version needs another transport ({@code 2} against {@code auto} or {@code 1.1}) or, over HTTP/2, the
     * response timeout outlasts its connections' idle time; else, as in {@link #withTimeouts}, a view on this client
     * (the JDK's asks for the version per request). An application's client keeps its
     * version: the JDK's given one is asked for it per request (as for {@code upstream-http-version}); Jetty's given
     * one speaks its transport's, and a version that transport cannot speak is refused with an {@link
     * IllegalArgumentException}. By default, for another implementation, {@link #withTimeouts} (its version its own).
     *
     * @param connectTimeout the time to connect
     * @param responseTimeout the time to the response headers
     * @param httpVersion the HTTP version to speak
     * @throws IllegalArgumentException when this is an application's Jetty client whose transport cannot speak
     *     {@code httpVersion}; the message is the version and the reason ({@code "2, but ..."}), without
     *     the setting's name
     */
    default UpstreamClient withSettings(
            java.time.Duration connectTimeout,
            java.time.Duration responseTimeout,
            UpstreamConfig.HttpVersion httpVersion) {
        return withTimeouts(connectTimeout, responseTimeout);
    }

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
     * The JDK client on an application's own {@link java.net.http.HttpClient}: its {@code SSLContext} (a private
     * CA, mTLS), its {@code ProxySelector} (a corporate proxy), its executor, used as they are. Closing the
     * returned client does not close the given one: the application owns it. Plain {@code http} upstreams are
     * called with HTTP/1.1.
     *
     * @throws IllegalArgumentException if the client follows redirects or has a {@code CookieHandler}: the proxy
     *     hands redirects to its caller, and cookies would pass from one user's exchange to another's
     */
    static UpstreamClient jdk(UpstreamConfig config, java.net.http.HttpClient httpClient) {
        return JdkUpstreamClient.given(config, httpClient);
    }

    /**
     * The JDK client the proxy makes, with the application's settings applied to its builder after the proxy's
     * own (timeouts, no redirects, its executor): for example {@code b -> b.sslContext(context)} or
     * {@code b -> b.proxy(ProxySelector.of(address))}. Closed like {@link #jdk(UpstreamConfig)}.
     *
     * @throws IllegalArgumentException if the customizer made the client follow redirects or keep cookies
     */
    static UpstreamClient jdk(
            UpstreamConfig config, java.util.function.Consumer<? super java.net.http.HttpClient.Builder> customizer) {
        return JdkUpstreamClient.create(config, java.util.Objects.requireNonNull(customizer, "customizer"));
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
