package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.testsupport.BodyReader;
import io.github.openaiproxy.testsupport.H2cUpstream;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.HttpClientTransport;
import org.eclipse.jetty.client.transport.HttpClientConnectionFactory;
import org.eclipse.jetty.client.transport.HttpClientTransportDynamic;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.ClientConnectionFactoryOverHTTP2;
import org.eclipse.jetty.io.ClientConnector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code upstream-http-version} with an application's own Jetty client ({@link JettyUpstreamClients#of}): its
 * transport cannot be changed, so a version it cannot speak is refused at once, naming the setting, instead of being
 * ignored; one it speaks is spoken.
 */
class JettyUpstreamClientsHttpVersionTest {
    private H2cUpstream upstream;
    private HttpClient jetty;

    @BeforeEach
    void start() throws Exception {
        upstream = H2cUpstream.start();
    }

    @AfterEach
    void stop() throws Exception {
        if (jetty != null) {
            jetty.stop();
        }
        upstream.close();
    }

    private HttpClient started(HttpClientTransport transport) throws Exception {
        jetty = transport == null ? new HttpClient() : new HttpClient(transport);
        jetty.setHttpCookieStore(new HttpCookieStore.Empty());
        jetty.setUserAgentField(null);
        jetty.setDefaultRequestContentType(null);
        jetty.start();
        jetty.getContentDecoderFactories().clear();
        return jetty;
    }

    private static HttpClientTransport http2AndHttp11() {
        ClientConnector connector = new ClientConnector();
        return new HttpClientTransportDynamic(
                connector,
                new ClientConnectionFactoryOverHTTP2.HTTP2(new HTTP2Client(connector)),
                HttpClientConnectionFactory.HTTP11);
    }

    private UpstreamConfig config(UpstreamConfig.HttpVersion version) {
        return UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()).withHttpVersion(version);
    }

    private UpstreamResponse chat(UpstreamClient client) throws Exception {
        return client.send(new UpstreamRequest(
                        "POST",
                        URI.create(upstream.baseUrl() + "/v1/chat/completions"),
                        HttpHeaders.of(Map.of("content-type", List.of("application/json")), (n, v) -> true),
                        "{\"model\":\"gpt-4o-mini\"}".getBytes(StandardCharsets.UTF_8)))
                .get(20, TimeUnit.SECONDS);
    }

    @Test
    void version2OnAClientThatSpeaksOnlyHttp11IsRefusedNamingTheSetting() throws Exception {
        HttpClient http11 = started(null); // Jetty's own default transport: HTTP/1.1 alone

        assertThatThrownBy(() -> JettyUpstreamClients.of(config(UpstreamConfig.HttpVersion.HTTP_2), http11))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("upstream-http-version is 2");
    }

    @Test
    void version2OnAClientThatSpeaksHttp2GoesOverHttp2() throws Exception {
        UpstreamClient client =
                JettyUpstreamClients.of(config(UpstreamConfig.HttpVersion.HTTP_2), started(http2AndHttp11()));

        UpstreamResponse response = chat(client);

        assertThat(response.status()).isEqualTo(200);
        assertThat(BodyReader.read(response.body()).text()).isEqualTo(H2cUpstream.COMPLETION);
        assertThat(upstream.seen().get(0).protocol()).isEqualTo("HTTP/2.0");
    }

    @Test
    void version11OnAClientThatSpeaksHttp2IsRefusedNamingTheSetting() throws Exception {
        HttpClient http2 = started(http2AndHttp11());

        assertThatThrownBy(() -> JettyUpstreamClients.of(config(UpstreamConfig.HttpVersion.HTTP_1_1), http2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("upstream-http-version is 1.1");
    }

    @Test
    void autoLeavesTheVersionToTheClientsTransport() throws Exception {
        UpstreamClient client =
                JettyUpstreamClients.of(config(UpstreamConfig.HttpVersion.AUTO), started(http2AndHttp11()));

        assertThat(chat(client).status()).isEqualTo(200);
        assertThat(upstream.seen().get(0).protocol()).isEqualTo("HTTP/2.0");
    }

    @Test
    void aNamedUpstreamsVersionTheClientCannotSpeakIsRefusedAtStartNamingTheUpstreamsSetting() throws Exception {
        HttpClient http11 = started(null);
        io.github.openaiproxy.core.ProxyConfig config = io.github.openaiproxy.core.config.ProxySettings.from(Map.of(
                        "api-key", "sk-default",
                        "upstreams.local.kind", "compatible",
                        "upstreams.local.base-url", upstream.baseUrl().toString(),
                        "upstreams.local.models", "llama*",
                        "upstreams.local.http-version", "2"))
                .toConfig();

        assertThatThrownBy(() -> io.github.openaiproxy.core.ProxyEngine.create(
                        config, JettyUpstreamClients.of(config.upstream(), http11)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("upstreams.local.http-version is 2, but the upstream Jetty HttpClient speaks only"
                        + " HTTP/1.1");
    }

    @Test
    void aNamedUpstreamsVersionTheClientSpeaksIsSpokenOnTheApplicationsClient() throws Exception {
        UpstreamClient given =
                JettyUpstreamClients.of(config(UpstreamConfig.HttpVersion.AUTO), started(http2AndHttp11()));

        UpstreamClient named = given.withSettings(
                java.time.Duration.ofSeconds(3), java.time.Duration.ofSeconds(30), UpstreamConfig.HttpVersion.HTTP_2);

        assertThat(chat(named).status()).isEqualTo(200);
        assertThat(upstream.seen().get(0).protocol()).isEqualTo("HTTP/2.0");
        named.close();
        assertThat(jetty.isRunning()).isTrue(); // the application's, not stopped with the derived client
    }
}
