package io.github.openaiproxy.spring.security;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.openai.client.OpenAIClient;
import com.openai.errors.UnauthorizedException;
import io.github.openaiproxy.core.access.ProxyKeys;
import jakarta.servlet.Filter;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.security.web.FilterChainProxy;
import org.springframework.security.web.firewall.StrictHttpFirewall;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Why the README's firewall step is needed: with Tomcat letting {@code %2F} through but Spring Security's default
 * {@code StrictHttpFirewall}, openai-java's {@code models().retrieve("meta-llama/...")} is refused before the proxy,
 * and so it is with {@code setAllowUrlEncodedSlash(true)} alone. The firewall's refusal is a 400 sent as an error,
 * and this application's error page ({@code /error}) needs a login like its other pages, so the caller sees Spring
 * Security's 401 (HTTP basic's challenge, no OpenAI-shaped body), which openai-java raises as an authentication
 * error.
 */
@SpringBootTest(classes = SecuredApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@Import(EncodedSlashes.TomcatPassthrough.class)
class EncodedSlashDefaultFirewallTests {
    static final WireMockServer upstream = EncodedSlashes.startUpstream();
    static final ProxyKeys.NewKey key = ProxyKeys.generate();
    static final String ENCODED = EncodedSlashes.MODELS + "meta-llama%2FLlama-3.1-8B-Instruct";

    @LocalServerPort
    int port;

    @Autowired
    @Qualifier("springSecurityFilterChain")
    Filter springSecurity;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        EncodedSlashes.properties(registry, upstream, key);
    }

    @AfterAll
    static void stopUpstream() {
        upstream.stop();
    }

    @BeforeEach
    void forgetCalls() {
        upstream.resetRequests();
    }

    @Test
    void theDefaultFirewallRefusesOpenAiJavasEncodedSlash() {
        OpenAIClient sdk = EncodedSlashes.sdk(port, key);
        try {
            assertThatThrownBy(() -> sdk.models().retrieve(EncodedSlashes.LLAMA))
                    .isInstanceOf(UnauthorizedException.class);
        } finally {
            sdk.close();
        }
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void theRefusalIsSpringSecuritysNotTheProxys() throws Exception {
        HttpResponse<String> r = EncodedSlashes.send(port, ENCODED, key);

        assertRefusedBySpringSecurity(r);
    }

    @Test
    void allowingTheEncodedSlashAloneIsNotEnoughWithTomcatsPassthrough() throws Exception {
        // Tomcat's passthrough leaves %2F in the decoded path too, and the firewall refuses a decoded "%".
        StrictHttpFirewall slashOnly = new StrictHttpFirewall();
        slashOnly.setAllowUrlEncodedSlash(true);
        FilterChainProxy chain = (FilterChainProxy) springSecurity;
        chain.setFirewall(slashOnly);
        try {
            assertRefusedBySpringSecurity(EncodedSlashes.send(port, ENCODED, key));

            // The README's firewall, set the same way, lets it through: the swap itself works.
            chain.setFirewall(EncodedSlashes.readmeFirewall());
            HttpResponse<String> r = EncodedSlashes.send(port, ENCODED, key);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            upstream.verify(1, getRequestedFor(urlEqualTo("/v1/models/" + EncodedSlashes.LLAMA)));
        } finally {
            chain.setFirewall(new StrictHttpFirewall());
        }
    }

    @Test
    void aRawSlashNeedsNoFirewallChange() throws Exception {
        HttpResponse<String> r = EncodedSlashes.send(port, EncodedSlashes.MODELS + EncodedSlashes.LLAMA, key);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        upstream.verify(1, getRequestedFor(urlEqualTo("/v1/models/" + EncodedSlashes.LLAMA)));
    }

    private static void assertRefusedBySpringSecurity(HttpResponse<String> r) {
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("WWW-Authenticate"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("Basic"));
        assertThat(r.body()).doesNotContain("\"error\"");
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }
}
