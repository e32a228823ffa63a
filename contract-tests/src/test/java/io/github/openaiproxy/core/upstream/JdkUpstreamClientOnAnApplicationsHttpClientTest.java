package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.testkit.UpstreamClientContract;
import java.net.http.HttpClient;

/** The JDK client on an application's own {@link HttpClient} (built with the JDK's defaults) runs the kit too. */
class JdkUpstreamClientOnAnApplicationsHttpClientTest extends UpstreamClientContract {
    @Override
    protected UpstreamClient create(UpstreamConfig config) {
        return UpstreamClient.jdk(config, HttpClient.newHttpClient());
    }
}
