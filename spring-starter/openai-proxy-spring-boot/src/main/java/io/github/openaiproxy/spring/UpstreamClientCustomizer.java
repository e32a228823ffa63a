package io.github.openaiproxy.spring;

import java.net.http.HttpClient;

/**
 * Tunes the HTTP client the proxy calls the upstream with: a private CA or mTLS keys
 * ({@link HttpClient.Builder#sslContext}), a corporate proxy ({@link HttpClient.Builder#proxy}). Declare beans of
 * this type; they run in {@link org.springframework.core.Ordered order} on the builder of the JDK's
 * {@link HttpClient}, after the proxy's own settings (timeouts, no redirects, its executor). With one or more of
 * them the proxy calls the upstream with the JDK client, so {@code openai.proxy.upstream-client=jetty} and a
 * customizer together fail start-up. A client that follows redirects or keeps cookies is refused.
 *
 * <p>Not used when the application defines its own {@link io.github.openaiproxy.core.upstream.UpstreamClient}
 * bean, for example {@code UpstreamClient.jdk(config.upstream(), myHttpClient)} on a client it owns.
 */
@FunctionalInterface
public interface UpstreamClientCustomizer {
    /** Changes the builder in place. */
    void customize(HttpClient.Builder builder);
}
