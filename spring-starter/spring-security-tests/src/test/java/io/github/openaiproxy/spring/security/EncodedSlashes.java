package io.github.openaiproxy.spring.security;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.WireMock;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.security.web.firewall.StrictHttpFirewall;
import org.springframework.test.context.DynamicPropertyRegistry;

/**
 * What the README's "Model ids with a slash" tells a Spring Boot application behind Spring Security to add, and
 * what its tests share: a WireMock upstream that knows one model with a slash in its id, and a caller with a
 * proxy key whose policy allows that model.
 */
final class EncodedSlashes {
    static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
    static final String SERVER_KEY = "sk-server-secret-firewall";
    static final String MODELS = "/ai/v1/models/";

    private EncodedSlashes() {}

    /** The README's first step: Tomcat hands {@code %2F} on as it came (no Spring Boot property does it). */
    @TestConfiguration
    static class TomcatPassthrough {
        @Bean
        WebServerFactoryCustomizer<TomcatServletWebServerFactory> encodedSlashes() {
            return factory -> factory.addConnectorCustomizers(c -> c.setEncodedSolidusHandling("passthrough"));
        }
    }

    /** The README's second step: Spring Security's firewall lets {@code %2F} through too. */
    @TestConfiguration
    static class Firewall {
        @Bean
        StrictHttpFirewall httpFirewall() {
            return readmeFirewall();
        }
    }

    /**
     * The README's firewall: an encoded slash allowed, and a {@code %} in the decoded path, where Tomcat's
     * passthrough leaves {@code %2F}; {@code %25} in the request's URI stays refused.
     */
    static StrictHttpFirewall readmeFirewall() {
        StrictHttpFirewall firewall = new StrictHttpFirewall();
        firewall.setAllowUrlEncodedSlash(true);
        firewall.getDecodedUrlBlocklist().remove("%");
        return firewall;
    }

    static WireMockServer startUpstream() {
        WireMockServer server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
        server.stubFor(WireMock.get(urlPathMatching("/v1/models/.+"))
                .willReturn(
                        okJson("{\"id\":\"" + LLAMA + "\",\"object\":\"model\",\"created\":1,\"owned_by\":\"meta\"}")));
        return server;
    }

    /** The proxy at {@code /ai}, its upstream, and a proxy key allowed the model; nobody else may call. */
    static void properties(DynamicPropertyRegistry registry, WireMockServer upstream, ProxyKeys.NewKey key) {
        registry.add("openai.proxy.path", () -> "/ai");
        registry.add("openai.proxy.api-key", () -> SERVER_KEY);
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
        registry.add("openai.proxy.access.anonymous", () -> "deny");
        registry.add("openai.proxy.access.keys", () -> key.hash() + ":llama:firewall");
        registry.add("openai.proxy.policies.llama.models", () -> "meta-llama/*");
    }

    static OpenAIClient sdk(int port, ProxyKeys.NewKey key) {
        return OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/ai/v1")
                .apiKey(key.secret())
                .maxRetries(0)
                .build();
    }

    /** A GET of a raw path (sent as written: {@link URI} keeps {@code %2F} and {@code ..}). */
    static HttpResponse<String> send(int port, String rawPath, ProxyKeys.NewKey key) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + rawPath))
                .header("Authorization", "Bearer " + key.secret())
                .build();
        return HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
    }
}
