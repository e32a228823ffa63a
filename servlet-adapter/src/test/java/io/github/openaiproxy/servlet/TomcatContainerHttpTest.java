package io.github.openaiproxy.servlet;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import jakarta.servlet.Filter;
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
    ProxyServer servlet(ProxyConfig config, Filter front) {
        return TomcatProxy.servlet(config, front);
    }

    @Override
    ProxyServer filter(ProxyConfig config) {
        return TomcatProxy.filter(config);
    }

    /**
     * Tomcat answers {@code Expect: 100-continue} as soon as it has read the request head, by default
     * ({@code continueResponseTiming=immediately}); with {@code onRead} it would wait for a read, but not for
     * the non-blocking reads the adapter makes, so every accepted body would wait for the client's own timeout.
     */
    @Override
    boolean containerSendsContinueItself() {
        return true;
    }

    @Override
    ProxyServer servletAllowingEncodedSlashes(ProxyConfig config) {
        return TomcatProxy.servletAllowingEncodedSlashes(config);
    }
}
