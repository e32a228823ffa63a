package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.testkit.UpstreamClientContract;

/** The Jetty client the proxy creates runs the upstream client kit (its timeouts: core's JettyUpstreamClientTest). */
class JettyUpstreamClientContractTest extends UpstreamClientContract {
    @Override
    protected UpstreamClient create(UpstreamConfig config) {
        return UpstreamClient.jetty(config);
    }
}
