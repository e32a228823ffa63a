package io.github.openaiproxy.spring;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.InputStream;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.annotation.Order;

/**
 * The upstream client in Spring: {@link UpstreamClientCustomizer} beans tune the JDK client in order (here:
 * an {@link SSLContext} that trusts a private certificate, reaching an https upstream over real TLS), and an
 * application's own {@link UpstreamClient} bean replaces the proxy's.
 */
class UpstreamClientAutoConfigurationTests {
    private static final String PASSWORD = "changeit";
    private static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    private static WireMockServer tls;

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OpenAiProxyAutoConfiguration.class))
            .withPropertyValues(
                    "openai.proxy.api-key=sk-test-1", "openai.proxy.base-url=https://localhost:" + tls.httpsPort());

    @BeforeAll
    static void start() throws Exception {
        Path keystore = Path.of(UpstreamClientAutoConfigurationTests.class
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
        tls.stubFor(post(urlEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"id\":\"chatcmpl-tls\"}")));
    }

    @AfterAll
    static void stop() {
        tls.stop();
    }

    static SSLContext trustingTheTestCertificate() throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = UpstreamClientAutoConfigurationTests.class.getResourceAsStream("/test-upstream.p12")) {
            store.load(in, PASSWORD.toCharArray());
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    private static ProxyResponse chat(ProxyEngine engine) throws Exception {
        return engine.handle(ProxyRequest.builder("POST", "/v1/chat/completions")
                        .header("Content-Type", "application/json")
                        .body(CHAT.getBytes(StandardCharsets.UTF_8))
                        .build())
                .get(30, TimeUnit.SECONDS);
    }

    @Configuration(proxyBeanMethods = false)
    static class Customizers {
        static final List<String> applied = new CopyOnWriteArrayList<>();

        @Bean
        @Order(2)
        UpstreamClientCustomizer trustTheTestCertificate() {
            return builder -> {
                applied.add("tls");
                try {
                    builder.sslContext(trustingTheTestCertificate());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            };
        }

        @Bean
        @Order(1)
        UpstreamClientCustomizer first() {
            return builder -> applied.add("first");
        }
    }

    @Test
    void customizersAreAppliedInOrderAndTheirSslContextReachesTheUpstream() {
        Customizers.applied.clear();
        runner.withUserConfiguration(Customizers.class).run(context -> {
            assertThat(context).hasNotFailed().hasSingleBean(UpstreamClient.class);
            assertThat(Customizers.applied).containsExactly("first", "tls");

            ProxyResponse r = chat(context.getBean(ProxyEngine.class));
            assertThat(r.status()).isEqualTo(200);
            assertThat(TestBodies.read(r)).contains("chatcmpl-tls");
        });
    }

    /** The hostile case: without the customizer the proxy's own client refuses the untrusted upstream. */
    @Test
    void withoutTheCustomizerTheUpstreamIsRefused() {
        tls.resetRequests();
        runner.run(context -> {
            assertThat(chat(context.getBean(ProxyEngine.class)).status()).isEqualTo(502);
            assertThat(tls.findAll(anyRequestedFor(anyUrl()))).isEmpty();
        });
    }

    @Test
    void aCustomizerWithTheJettyClientFailsStartUpNamingTheProperty() {
        runner.withUserConfiguration(Customizers.class)
                .withPropertyValues("openai.proxy.upstream-client=jetty")
                .run(context ->
                        assertThat(context).getFailure().hasMessageContaining("openai.proxy.upstream-client is jetty"));
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnClient {
        @Bean
        UpstreamClient ownUpstreamClient() {
            return new UpstreamClient() {
                @Override
                public CompletableFuture<UpstreamResponse> send(io.github.openaiproxy.core.upstream.UpstreamRequest r) {
                    byte[] body = "{\"id\":\"own-client\"}".getBytes(StandardCharsets.UTF_8);
                    return CompletableFuture.completedFuture(new UpstreamResponse(
                            200,
                            HttpHeaders.of(Map.of("Content-Type", List.of("application/json")), (a, b) -> true),
                            io.github.openaiproxy.core.internal.Bodies.responseOf(body)));
                }

                @Override
                public void close() {}
            };
        }

        @Bean
        UpstreamClientCustomizer ignored() {
            return builder -> {
                throw new AssertionError("an application's own UpstreamClient is not customized");
            };
        }
    }

    @Test
    void anApplicationsOwnUpstreamClientBeanIsUsed() {
        runner.withUserConfiguration(OwnClient.class).run(context -> {
            assertThat(context).hasNotFailed().hasSingleBean(UpstreamClient.class);
            assertThat(TestBodies.read(chat(context.getBean(ProxyEngine.class))))
                    .contains("own-client");
        });
    }
}
