package io.github.openaiproxy.servlet;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The container kit on embedded Tomcat 11. */
class TomcatContainerHttpTest extends ContainerHttpKit {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    @Override
    WireMockExtension upstream() {
        return upstream;
    }

    @Override
    ProxyServer servlet(ProxyConfig config, String mapping) {
        return TomcatProxy.servlet(config, mapping);
    }

    @Override
    ProxyServer filter(ProxyConfig config) {
        return TomcatProxy.filter(config);
    }
}
