package io.github.openaiproxy.core.upstream;

import org.eclipse.jetty.client.HttpClient;

/**
 * The Jetty upstream client on an application's own Jetty {@link HttpClient}: a private CA or mTLS keys
 * ({@code SslContextFactory.Client}), a corporate proxy ({@code ProxyConfiguration}), its own thread pool. A class
 * of its own, not a method of {@link UpstreamClient}, so that {@code UpstreamClient} loads without the optional
 * {@code jetty-client}.
 */
public final class JettyUpstreamClients {
    private JettyUpstreamClients() {}

    /**
     * The upstream client on {@code client}, used as it is: it is neither reconfigured nor stopped here (closing the
     * returned client does nothing to it). Set it up as a proxy's client before passing it in:
     *
     * <pre>{@code
     * HttpClient jetty = new HttpClient();
     * jetty.setSslContextFactory(sslContextFactory);
     * jetty.setHttpCookieStore(new HttpCookieStore.Empty());
     * jetty.setUserAgentField(null);
     * jetty.setDefaultRequestContentType(null);
     * jetty.start();
     * jetty.getContentDecoderFactories().clear(); // start() adds gzip
     * UpstreamClient upstream = JettyUpstreamClients.of(config.upstream(), jetty);
     * }</pre>
     *
     * <p>The HTTP version is the client's transport's, fixed when the client was built: {@code
     * upstream-http-version} ({@link UpstreamConfig#httpVersion()}) is not applied to it, only checked. {@code 2}
     * needs a transport that speaks HTTP/2 ({@code HttpClientTransportDynamic} with {@code
     * ClientConnectionFactoryOverHTTP2}, or {@code HttpClientTransportOverHTTP2}); {@code 1.1} one that does not
     * ({@code new HttpClient()}'s own); with {@code auto} the transport decides. A named upstream's own {@code
     * upstreams.<name>.http-version} is checked the same way when the engine starts.
     *
     * @throws IllegalArgumentException if the client is not started, keeps cookies, decodes content or adds a
     *     {@code User-Agent} or {@code Content-Type} of its own: cookies would pass between users, and the others would change what the
     *     caller sent or receives; or if its transport cannot speak the {@code upstream-http-version} asked for
     */
    public static UpstreamClient of(UpstreamConfig config, HttpClient client) {
        return JettyUpstreamClient.given(config, client);
    }
}
