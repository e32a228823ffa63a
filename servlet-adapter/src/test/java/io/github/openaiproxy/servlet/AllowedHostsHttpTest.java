package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.OpenAiFixtures;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * DNS rebinding over HTTP. A page on {@code rebound.evil.test}, whose name the attacker points at the
 * proxy's address, sends {@code Origin} and {@code Host} that agree: it looks same-origin, so CORS lets it
 * through. With {@code allowed-hosts} the proxy refuses it before anything else.
 */
class AllowedHostsHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    /** Answers only to localhost and 127.0.0.1. */
    static TomcatProxy guarded;
    /** The default: any host. */
    static TomcatProxy open;

    @BeforeAll
    static void start() {
        guarded = TomcatProxy.servlet(Upstream.config(upstream)
                .allowedHosts(List.of("localhost", "127.0.0.1"))
                .build());
        open = TomcatProxy.servlet(Upstream.config(upstream).build());
    }

    @AfterAll
    static void stop() {
        guarded.close();
        open.close();
    }

    @BeforeEach
    void stub() {
        upstream.stubFor(post("/v1/chat/completions").willReturn(okJson(OpenAiFixtures.CHAT_COMPLETION)));
    }

    static RawHttp.Response postAs(TomcatProxy proxy, String path, String host) {
        return RawHttp.exchange(
                proxy.port(),
                "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + proxy.port() + "\r\nOrigin: http://" + host + ":"
                        + proxy.port() + "\r\nContent-Type: application/json\r\nConnection: close\r\n",
                CHAT.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aListedHostIsServedAsUsual() {
        RawHttp.Response r = postAs(guarded, "/v1/chat/completions", "localhost");
        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getHeader("Authorization"))
                .isEqualTo("Bearer " + Upstream.SERVER_KEY);
    }

    @Test
    void aReboundPageIsRefusedOnEveryRouteWithoutReachingTheUpstream() {
        RawHttp.Response v1 = postAs(guarded, "/v1/chat/completions", "rebound.evil.test");
        assertOpenAiError(v1, 403, "permission_error", "host_not_allowed");
        assertThat(v1.header("Access-Control-Allow-Origin")).isEmpty();

        assertSeedError(postAs(guarded, "/", "rebound.evil.test"), 403, "Forbidden");

        RawHttp.Response preflight = RawHttp.exchange(
                guarded.port(),
                "OPTIONS / HTTP/1.1\r\nHost: rebound.evil.test\r\nOrigin: http://rebound.evil.test\r\n"
                        + "Access-Control-Request-Method: POST\r\nConnection: close\r\n",
                new byte[0]);
        assertThat(preflight.status()).isEqualTo(403);
        assertThat(preflight.header("Access-Control-Allow-Origin")).isEmpty();

        Upstream.assertNoCalls(upstream);
    }

    @Test
    void withoutTheSettingTheSameReboundRequestGetsThrough() {
        // Why the setting exists: by default the proxy trusts Host, and this request spends the server key.
        RawHttp.Response r = postAs(open, "/v1/chat/completions", "rebound.evil.test");
        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getHeader("Authorization"))
                .isEqualTo("Bearer " + Upstream.SERVER_KEY);
    }
}
