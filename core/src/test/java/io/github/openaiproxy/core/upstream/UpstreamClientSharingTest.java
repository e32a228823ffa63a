package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * What {@code withTimeouts} / {@code withSettings} make on the proxy's own clients: a response timeout is applied per
 * request, so a named upstream with only {@code timeout} of its own is called through the proxy's client itself (its
 * connections, threads, memory); only a connect timeout, or on Jetty another transport, makes a client of its own.
 * Closing the shared view leaves the proxy's client running; closing the proxy's client stops it.
 */
class UpstreamClientSharingTest {
    private static final UpstreamConfig CONFIG =
            UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:1"));
    private static final Duration CONNECT = CONFIG.connectTimeout();
    private static final Duration OTHER = Duration.ofSeconds(3);

    @Test
    void jettyWithOnlyAnotherResponseTimeoutSharesTheProxysHttpClient() throws Exception {
        JettyUpstreamClient proxy = JettyUpstreamClient.create(CONFIG);
        try {
            UpstreamClient timed = proxy.withTimeouts(CONNECT, OTHER);
            UpstreamClient settings = proxy.withSettings(CONNECT, OTHER, CONFIG.httpVersion());

            assertThat(((JettyUpstreamClient) timed).httpClient()).isSameAs(proxy.httpClient());
            assertThat(((JettyUpstreamClient) settings).httpClient()).isSameAs(proxy.httpClient());
            timed.close();
            settings.close();
            assertThat(proxy.httpClient().isStarted())
                    .as("closing a view stops nothing")
                    .isTrue();
        } finally {
            proxy.close();
        }
        assertThat(proxy.httpClient().isStopped()).isTrue();
    }

    @Test
    void jettyWithAnotherConnectTimeoutMakesAClientOfItsOwnClosedByItsClose() {
        try (JettyUpstreamClient proxy = JettyUpstreamClient.create(CONFIG)) {
            JettyUpstreamClient own = (JettyUpstreamClient) proxy.withTimeouts(OTHER, OTHER);
            // A view's sibling with another connect timeout is a new client too, not a view keeping the proxy's.
            JettyUpstreamClient fromView =
                    (JettyUpstreamClient) proxy.withTimeouts(CONNECT, OTHER).withTimeouts(OTHER, OTHER);

            assertThat(own.httpClient()).isNotSameAs(proxy.httpClient());
            assertThat(own.httpClient().getConnectTimeout()).isEqualTo(OTHER.toMillis());
            assertThat(fromView.httpClient()).isNotSameAs(proxy.httpClient());
            own.close();
            fromView.close();
            assertThat(own.httpClient().isStopped()).isTrue();
            assertThat(fromView.httpClient().isStopped()).isTrue();
            assertThat(proxy.httpClient().isStarted()).isTrue();
        }
    }

    @Test
    void jettyOverHttp2SharesOnlyWhileTheConnectionsOutlastTheResponseTimeout() {
        // Jetty closes a silent HTTP/2 connection with its streams: the connections' idle time is the longest wait.
        UpstreamConfig http2 = CONFIG.withHttpVersion(UpstreamConfig.HttpVersion.HTTP_2);
        try (JettyUpstreamClient proxy = JettyUpstreamClient.create(http2)) {
            JettyUpstreamClient shorter =
                    (JettyUpstreamClient) proxy.withSettings(CONNECT, OTHER, UpstreamConfig.HttpVersion.HTTP_2);
            JettyUpstreamClient longer = (JettyUpstreamClient) proxy.withSettings(
                    CONNECT, http2.responseTimeout().multipliedBy(2), UpstreamConfig.HttpVersion.HTTP_2);
            JettyUpstreamClient http11 =
                    (JettyUpstreamClient) proxy.withSettings(CONNECT, OTHER, UpstreamConfig.HttpVersion.HTTP_1_1);

            assertThat(shorter.httpClient()).isSameAs(proxy.httpClient());
            assertThat(longer.httpClient()).isNotSameAs(proxy.httpClient());
            assertThat(http11.httpClient()).isNotSameAs(proxy.httpClient());
            longer.close();
            http11.close();
        }
    }

    @Test
    void jdkWithOnlyAnotherResponseTimeoutOrVersionSharesTheProxysHttpClient() {
        JdkUpstreamClient proxy = JdkUpstreamClient.create(CONFIG);
        try {
            JdkUpstreamClient timed = (JdkUpstreamClient) proxy.withTimeouts(CONNECT, OTHER);
            // The JDK's version is asked for per request, as on an application's client.
            JdkUpstreamClient versioned =
                    (JdkUpstreamClient) proxy.withSettings(CONNECT, OTHER, UpstreamConfig.HttpVersion.HTTP_2);
            JdkUpstreamClient own = (JdkUpstreamClient) proxy.withTimeouts(OTHER, OTHER);

            assertThat(timed.httpClient()).isSameAs(proxy.httpClient());
            assertThat(versioned.httpClient()).isSameAs(proxy.httpClient());
            assertThat(own.httpClient()).isNotSameAs(proxy.httpClient());
            assertThat(own.httpClient().connectTimeout()).contains(OTHER);
            timed.close();
            versioned.close();
            own.close();
            assertThat(proxy.executorRunning())
                    .as("closing a view stops nothing")
                    .isTrue();
            assertThat(own.executorRunning()).isFalse();
        } finally {
            proxy.close();
        }
        assertThat(proxy.executorRunning()).isFalse();
    }
}
