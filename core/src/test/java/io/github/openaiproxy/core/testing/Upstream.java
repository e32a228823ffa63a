package io.github.openaiproxy.core.testing;

import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.ServeEvent;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/** The WireMock upstream the proxy talks to, and what the tests read from it. */
public final class Upstream {
    /** The key the proxy is configured with. */
    public static final String SERVER_KEY = "sk-proj-serverKey0123456789abcdefghijklmnop";

    private Upstream() {}

    /** A WireMock on 127.0.0.1 on a free port; stubs and the request journal are reset before every test. */
    public static WireMockExtension extension() {
        return WireMockExtension.newInstance()
                .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
                .build();
    }

    /** A proxy configuration on this upstream with {@link #SERVER_KEY}. */
    public static ProxyConfig.Builder config(WireMockExtension upstream) {
        return ProxyConfig.builder().apiKey(SERVER_KEY).upstream(upstreamConfig(upstream));
    }

    /** The upstream settings that point at this WireMock. */
    public static UpstreamConfig upstreamConfig(WireMockExtension upstream) {
        return UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl()));
    }

    /** Every request the upstream received, oldest first. */
    public static List<LoggedRequest> requests(WireMockExtension upstream) {
        List<LoggedRequest> all = new ArrayList<>();
        for (ServeEvent e : upstream.getAllServeEvents()) {
            all.add(e.getRequest());
        }
        Collections.reverse(all);
        return all;
    }

    /** The single request the upstream received (fails when there were none or several). */
    public static LoggedRequest onlyRequest(WireMockExtension upstream) {
        List<LoggedRequest> all = requests(upstream);
        assertThat(all).as("requests that reached the upstream").hasSize(1);
        return all.get(0);
    }

    /** Asserts the upstream was never called. */
    public static void assertNoCalls(WireMockExtension upstream) {
        assertThat(requests(upstream)).as("requests that reached the upstream").isEmpty();
    }

    /** The names of a logged request's headers, in lower case. */
    public static Set<String> headerNames(LoggedRequest request) {
        Set<String> names = new TreeSet<>();
        for (String n : request.getAllHeaderKeys()) {
            names.add(n.toLowerCase(Locale.ROOT));
        }
        return names;
    }

    /** A local port nothing listens on (bound once, then released). */
    public static int closedPort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
