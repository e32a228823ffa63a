package io.github.openaiproxy.core.upstream;

import io.github.openaiproxy.testkit.UpstreamClientContract;

/** The JDK client the proxy creates runs the upstream client kit. */
class JdkUpstreamClientTest extends UpstreamClientContract {
    @Override
    protected UpstreamClient create(UpstreamConfig config) {
        return UpstreamClient.jdk(config);
    }
}
