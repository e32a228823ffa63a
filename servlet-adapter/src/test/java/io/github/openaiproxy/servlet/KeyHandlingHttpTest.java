package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.Upstream.SERVER_KEY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hop-by-hop headers in a raw request head never reach the upstream, on every route kind. The key table
 * (which key goes upstream, what never does, the errors without a usable key) runs in process in core's
 * ProxyEngineKeyHandlingTableTest.
 */
class KeyHandlingHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String SDK_PLACEHOLDER_KEY = "sk-client-sdk-placeholder-987654321";

    /** Server key, client keys disabled (the default), organization and project configured. */
    static TomcatProxy serverKey;

    /** Every header the upstream may see (pass-through adds only openai-beta and idempotency-key). */
    static final Set<String> ALLOWED_UPSTREAM_HEADERS = Set.of(
            "authorization",
            "user-agent",
            "content-type",
            "accept",
            "accept-encoding", // always identity, the proxy's own
            "content-length",
            "host",
            "openai-organization",
            "openai-project");

    @BeforeAll
    static void start() {
        serverKey = TomcatProxy.servlet(Upstream.config(upstream)
                .upstream(Upstream.upstreamConfig(upstream)
                        .withOrganization("org-config")
                        .withProject("proj-config"))
                .build());
    }

    @AfterAll
    static void stop() {
        serverKey.close();
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"ok\":true}")));
    }

    /** One request per route kind: method, path, body, error style. */
    static Stream<Arguments> routeKinds() {
        return Stream.of(
                arguments("POST", "/", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "seed"),
                arguments("POST", "/images/generations", "{\"prompt\":\"a cat\"}", "seed"),
                arguments("POST", "/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", "openai"),
                arguments("GET", "/v1/models", null, "openai"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void hopByHopHeadersNeverReachTheUpstream(String method, String path, String body, String style) {
        byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\n"
                + "Host: 127.0.0.1:" + serverKey.port() + "\r\n"
                + (body == null ? "" : "Content-Type: application/json\r\n")
                + "Connection: keep-alive, X-Hop-Secret\r\n"
                + "Keep-Alive: timeout=5, max=100\r\n"
                + "TE: trailers\r\n"
                + "Trailer: X-Checksum\r\n"
                + "Upgrade: example/1\r\n"
                + "X-Hop-Secret: hop-value\r\n"
                + "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
                + "Proxy-Connection: keep-alive\r\n"
                + "Authorization: Bearer " + SDK_PLACEHOLDER_KEY + "\r\n"
                + "Cookie: session=abc123\r\n";

        RawHttp.Response r = RawHttp.exchange(serverKey.port(), head, bytes);

        assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(Upstream.headerNames(sent)).isSubsetOf(ALLOWED_UPSTREAM_HEADERS);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
    }
}
