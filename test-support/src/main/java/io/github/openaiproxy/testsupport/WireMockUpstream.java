package io.github.openaiproxy.testsupport;

import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

import com.github.tomakehurst.wiremock.WireMockServer;
import java.net.URI;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A WireMock server standing in for OpenAI: one per test class, on a free port of 127.0.0.1, with stubs
 * and the request journal reset before each test. Register it as a static {@code @RegisterExtension}.
 */
public final class WireMockUpstream implements BeforeAllCallback, BeforeEachCallback, AfterAllCallback {
    private WireMockServer server;

    @Override
    public void beforeAll(ExtensionContext context) {
        server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        server.resetAll();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        server.stop();
    }

    public WireMockServer server() {
        return server;
    }

    /** The base URL the proxy is configured with. */
    public URI baseUrl() {
        return URI.create("http://127.0.0.1:" + server.port());
    }
}
