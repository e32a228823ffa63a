package io.github.openaiproxy.servlet;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import jakarta.servlet.Filter;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The container kit on embedded Jetty 12 (ee10, Servlet 6.0). */
class JettyContainerHttpTest extends ContainerHttpKit {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    @Override
    WireMockExtension upstream() {
        return upstream;
    }

    @Override
    ProxyServer servlet(ProxyConfig config, String mapping) {
        return JettyProxy.servlet(config, mapping);
    }

    @Override
    ProxyServer servlet(ProxyConfig config, Filter front) {
        return JettyProxy.servlet(config, front);
    }

    @Override
    ProxyServer filter(ProxyConfig config) {
        return JettyProxy.filter(config);
    }

    @Override
    ProxyServer servletAllowingEncodedSlashes(ProxyConfig config) {
        return JettyProxy.servletAllowingEncodedSlashes(config);
    }
}
