package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.http.trafficlistener.WiremockNetworkTrafficListener;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A named upstream with only a {@code timeout} of its own is called through the proxy's client: over real HTTP its
 * timeout still ends its call at its own value while another upstream on the same server, without one, waits
 * longer; and both go down one pooled connection, which a client of its own (its own pool) could not share.
 */
class NamedUpstreamSharedClientHttpTest {
    /** Connections the proxy opened to the upstream. */
    private static final AtomicInteger OPENED = new AtomicInteger();

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig()
                    .dynamicPort()
                    .bindAddress("127.0.0.1")
                    .networkTrafficListener(new WiremockNetworkTrafficListener() {
                        @Override
                        public void opened(Socket socket) {
                            OPENED.incrementAndGet();
                        }

                        @Override
                        public void incoming(Socket socket, ByteBuffer bytes) {}

                        @Override
                        public void outgoing(Socket socket, ByteBuffer bytes) {}

                        @Override
                        public void closed(Socket socket) {}
                    }))
            .build();

    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private HttpResponse<String> chat(String model) {
        return Http.postJson(
                proxy.uri("/v1/chat/completions"),
                "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    @ParameterizedTest
    @ValueSource(strings = {"jetty", "jdk"})
    void anUpstreamWithOnlyItsOwnTimeoutTimesOutAtItWhileSharingTheProxysConnections(String client)
            throws InterruptedException {
        upstream.stubFor(post(urlPathEqualTo("/patient/v1/chat/completions"))
                .willReturn(okJson("{\"id\":\"patient\",\"choices\":[]}").withFixedDelay(2_000)));
        upstream.stubFor(post(urlPathEqualTo("/quick/v1/chat/completions"))
                .willReturn(okJson("{\"id\":\"quick\",\"choices\":[]}").withFixedDelay(4_000)));
        String base = upstream.baseUrl();
        proxy = TomcatProxy.servlet(ProxySettings.from(Map.of(
                        "upstream-client", client,
                        "upstreams.patient.kind", "compatible",
                        "upstreams.patient.base-url", base + "/patient/v1",
                        "upstreams.patient.models", "patient-*",
                        "upstreams.quick.kind", "compatible",
                        "upstreams.quick.base-url", base + "/quick/v1",
                        "upstreams.quick.models", "quick-*",
                        "upstreams.quick.timeout", "1s",
                        "upstreams.quick.retries", "0"))
                .toConfig());
        OPENED.set(0);

        HttpResponse<String> patient = chat("patient-1"); // 2 s: past quick's timeout, within response-timeout
        // The client may read the answer's last byte just before the upstream client puts the connection back.
        Thread.sleep(200);
        long start = System.nanoTime();
        HttpResponse<String> quick = chat("quick-1");
        Duration quickTook = Duration.ofNanos(System.nanoTime() - start);

        assertThat(patient.statusCode()).as(patient.body()).isEqualTo(200);
        assertThat(patient.body()).contains("patient");
        assertThat(quick.statusCode()).as(quick.body()).isEqualTo(504);
        assertThat(quick.headers().firstValue("OpenAI-Proxy-Attempts")).contains("quick timeout");
        assertThat(quickTook).isGreaterThanOrEqualTo(Duration.ofSeconds(1)).isLessThan(Duration.ofMillis(3_500));
        // The quick call went down the connection the patient one left in the pool: one pool, one connection.
        assertThat(OPENED.get()).as("connections opened to the upstream").isEqualTo(1);
    }
}
