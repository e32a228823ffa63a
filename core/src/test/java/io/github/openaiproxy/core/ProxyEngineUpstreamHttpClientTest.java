package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.SERVER_KEY;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.upstream.JettyUpstreamClients;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.io.InputStream;
import java.net.CookieManager;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyStore;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * An application's own HTTP client, JDK or Jetty (here: an {@link SSLContext} trusting a private certificate, as a
 * corporate CA or an mTLS set-up needs) reaches an https upstream that the proxy's default clients refuse,
 * is used as given, and is not closed with the engine.
 */
class ProxyEngineUpstreamHttpClientTest {
    private static final String PASSWORD = "changeit";
    private static WireMockServer tls;
    private static URI base;

    @BeforeAll
    static void start() throws Exception {
        // A self-signed certificate for localhost and 127.0.0.1 (test-upstream.p12), trusted by no default trust store.
        Path keystore = Path.of(ProxyEngineUpstreamHttpClientTest.class
                .getResource("/test-upstream.p12")
                .toURI());
        tls = new WireMockServer(options()
                .dynamicPort()
                .dynamicHttpsPort()
                .bindAddress("127.0.0.1")
                .keystorePath(keystore.toString())
                .keystoreType("PKCS12")
                .keystorePassword(PASSWORD)
                .keyManagerPassword(PASSWORD));
        tls.start();
        base = URI.create("https://localhost:" + tls.httpsPort());
    }

    @AfterAll
    static void stop() {
        tls.stop();
    }

    @BeforeEach
    void reset() {
        tls.resetAll();
        tls.stubFor(post(urlEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody(CHAT_COMPLETION)));
    }

    private static SSLContext trustingTheTestCertificate() throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = ProxyEngineUpstreamHttpClientTest.class.getResourceAsStream("/test-upstream.p12")) {
            store.load(in, PASSWORD.toCharArray());
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    @Test
    void theApplicationsClientReachesAnUpstreamItsSslContextTrusts() throws Exception {
        HttpClient own =
                HttpClient.newBuilder().sslContext(trustingTheTestCertificate()).build();
        try (ProxyEngine engine = ProxyEngine.builder(config(base).build())
                .upstreamHttpClient(own)
                .build()) {
            Answer a = send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

            assertThat(a.status()).isEqualTo(200);
            assertThat(a.json().path("id").asText()).isEqualTo("chatcmpl-1");
        }
        tls.verify(postRequestedFor(urlEqualTo("/v1/chat/completions"))
                .withHeader("Authorization", equalTo("Bearer " + SERVER_KEY)));
        // Closing the engine left the application's client alone: it still works.
        HttpResponse<String> after = own.send(
                HttpRequest.newBuilder(base.resolve("/v1/chat/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(CHAT))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(after.statusCode()).isEqualTo(200);
    }

    @Test
    void aCustomizerOfTheProxysOwnClientAddsTheSslContext() throws Exception {
        SSLContext context = trustingTheTestCertificate();
        UpstreamConfig upstream = UpstreamConfig.defaults().withBaseUrl(base);
        try (UpstreamClient client = UpstreamClient.jdk(upstream, b -> b.sslContext(context));
                ProxyEngine engine = ProxyEngine.create(config(base).build(), client)) {
            assertThat(send(engine, EngineFixture.post("/v1/chat/completions", CHAT))
                            .status())
                    .isEqualTo(200);
        }
    }

    @Test
    void theApplicationsJettyClientReachesAnUpstreamItsSslContextTrustsAndIsNotStopped() throws Exception {
        org.eclipse.jetty.util.ssl.SslContextFactory.Client tlsFactory =
                new org.eclipse.jetty.util.ssl.SslContextFactory.Client();
        tlsFactory.setSslContext(trustingTheTestCertificate());
        org.eclipse.jetty.client.HttpClient jetty = new org.eclipse.jetty.client.HttpClient();
        jetty.setSslContextFactory(tlsFactory);
        jetty.setHttpCookieStore(new org.eclipse.jetty.http.HttpCookieStore.Empty());
        jetty.setUserAgentField(null);
        jetty.setDefaultRequestContentType(null);
        jetty.start();
        try {
            jetty.getContentDecoderFactories().clear();
            UpstreamClient upstream =
                    JettyUpstreamClients.of(UpstreamConfig.defaults().withBaseUrl(base), jetty);
            try (ProxyEngine engine = ProxyEngine.create(config(base).build(), upstream)) {
                assertThat(send(engine, EngineFixture.post("/v1/chat/completions", CHAT))
                                .status())
                        .isEqualTo(200);
            }
            upstream.close();
            assertThat(jetty.isRunning()).isTrue();
        } finally {
            jetty.stop();
        }
    }

    @Test
    void aJettyClientThatKeepsCookiesIsRefused() throws Exception {
        org.eclipse.jetty.client.HttpClient jetty = new org.eclipse.jetty.client.HttpClient();
        jetty.start();
        try {
            assertThatThrownBy(() -> JettyUpstreamClients.of(UpstreamConfig.defaults(), jetty))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cookie store");
        } finally {
            jetty.stop();
        }
    }

    /** The hostile case: without the application's trust, the default clients never send the key. */
    @ParameterizedTest
    @EnumSource(
            value = UpstreamConfig.ClientKind.class,
            names = {"JETTY", "JDK"})
    void theDefaultClientsRefuseThatUpstream(UpstreamConfig.ClientKind kind) {
        try (ProxyEngine engine = ProxyEngine.create(config(base, kind).build())) {
            Answer a = send(engine, EngineFixture.post("/v1/chat/completions", CHAT));

            assertThat(a.status()).isEqualTo(502);
        }
        assertThat(tls.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    @Test
    void aClientThatWouldActAsABrowserIsRefused() {
        UpstreamConfig upstream = UpstreamConfig.defaults().withBaseUrl(base);
        HttpClient following = HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        HttpClient withCookies =
                HttpClient.newBuilder().cookieHandler(new CookieManager()).build();

        assertThatThrownBy(() -> UpstreamClient.jdk(upstream, following))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("redirects");
        assertThatThrownBy(() -> UpstreamClient.jdk(upstream, withCookies))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CookieHandler");
        assertThatThrownBy(() -> UpstreamClient.jdk(upstream, b -> b.cookieHandler(new CookieManager())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CookieHandler");
    }
}
