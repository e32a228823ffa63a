package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.testkit.UpstreamClientContract;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpCookieStore;
import org.junit.jupiter.api.AfterEach;

/**
 * The Jetty client on an application's own Jetty {@link HttpClient}, set up as its Javadoc says, runs the kit
 * too; it follows redirects by default, and the proxy turns them off per request.
 */
class JettyUpstreamClientOnAnApplicationsHttpClientTest extends UpstreamClientContract {
    private HttpClient jetty;

    @Override
    protected UpstreamClient create(UpstreamConfig config) {
        jetty = new HttpClient();
        jetty.setHttpCookieStore(new HttpCookieStore.Empty());
        jetty.setUserAgentField(null);
        jetty.setDefaultRequestContentType(null);
        try {
            jetty.start();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        jetty.getContentDecoderFactories().clear();
        return JettyUpstreamClients.of(config, jetty);
    }

    @AfterEach
    void stopJetty() throws Exception {
        if (jetty != null) {
            jetty.stop();
        }
    }
}
