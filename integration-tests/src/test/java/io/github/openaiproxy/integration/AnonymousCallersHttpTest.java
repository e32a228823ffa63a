package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.RequestStep;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Callers without a credential, over HTTP (the connection's peer is 127.0.0.1): allowed under the policy
 * {@code anonymous} at their address, or 401 with {@code access.anonymous=deny}; {@code X-Forwarded-For} and
 * {@code Forwarded} count only when the peer is a trusted proxy.
 */
class AnonymousCallersHttpTest {
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";

    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    private final AtomicReference<Identity> seen = new AtomicReference<>();
    private TomcatProxy proxy;

    @BeforeEach
    void answer() {
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"ok\":true}")));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void allowedAnonymousCallersRunUnderTheirAddress() {
        start(AccessConfig.DEFAULTS);

        assertThat(chat().statusCode()).isEqualTo(200);
        assertThat(seen.get()).isEqualTo(Identity.anonymous("127.0.0.1", "anonymous"));
    }

    @Test
    void deniedAnonymousCallersGet401InOpenAisShape() {
        start(AccessConfig.DEFAULTS.withAnonymous(AccessConfig.Anonymous.DENY));

        HttpResponse<String> v1 = chat();
        assertThat(v1.statusCode()).isEqualTo(401);
        assertThat(v1.body())
                .isEqualTo("{\"error\":{\"message\":\"Missing or invalid credentials for this proxy\","
                        + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}");
        HttpResponse<String> simple = Http.postJson(uri("/"), "{\"messages\":[]}");
        assertThat(simple.statusCode()).isEqualTo(401);
        assertThat(simple.body())
                .isEqualTo(
                        "{\"error\":\"Unauthorized\",\"message\":\"Missing or invalid credentials for this proxy\"}");
        assertThat(upstream.findAll(anyRequestedFor(anyUrl()))).isEmpty();
    }

    @Test
    void forwardingHeadersFromAnUntrustedPeerAreIgnored() {
        start(AccessConfig.DEFAULTS.withTrustedProxies(List.of("10.0.0.0/8")));

        chat("X-Forwarded-For", "203.0.113.5");
        assertThat(seen.get().subject()).isEqualTo("127.0.0.1");
        chat("Forwarded", "for=203.0.113.5");
        assertThat(seen.get().subject()).isEqualTo("127.0.0.1");
    }

    @Test
    void forwardingHeadersFromATrustedPeerNameTheClient() {
        start(AccessConfig.DEFAULTS.withTrustedProxies(List.of("127.0.0.1", "10.0.0.0/8")));

        chat("X-Forwarded-For", "198.51.100.1, 203.0.113.5, 10.2.3.4");
        assertThat(seen.get().subject())
                .as("the first untrusted hop from the right")
                .isEqualTo("203.0.113.5");
        chat("X-Forwarded-For", "unknown");
        assertThat(seen.get().subject())
                .as("no address: the trusted peer itself")
                .isEqualTo("127.0.0.1");
        chat("Forwarded", "for=198.51.100.1");
        assertThat(seen.get().subject())
                .as("not the header these proxies write: as the client sent it, never read")
                .isEqualTo("127.0.0.1");
    }

    @Test
    void behindProxiesWritingForwardedItIsTheOnlyHeaderRead() {
        start(AccessConfig.DEFAULTS
                .withTrustedProxies(List.of("127.0.0.1", "10.0.0.0/8"))
                .withForwardedHeader(AccessConfig.ForwardedHeader.FORWARDED));

        chat("Forwarded", "for=198.51.100.1, for=\"[2001:db8::17]:4711\";proto=https");
        assertThat(seen.get().subject()).as("an IPv6 client counts as its /64").isEqualTo("2001:db8:0:0:0:0:0:0/64");
        chat("Forwarded", "for=198.51.100.1", "X-Forwarded-For", "203.0.113.99");
        assertThat(seen.get().subject()).isEqualTo("198.51.100.1");
    }

    private HttpResponse<String> chat(String... headers) {
        return Http.postJson(uri("/v1/chat/completions"), CHAT, headers);
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + proxy.port() + path);
    }

    private void start(AccessConfig access) {
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .access(access)
                .build();
        proxy = TomcatProxy.servlet(ProxyEngine.builder(config)
                .step(RequestStep.Position.BEFORE_UPSTREAM, (ctx, next) -> {
                    seen.set(ctx.identity().orElseThrow());
                    return next.proceed(ctx);
                })
                .build());
    }
}
