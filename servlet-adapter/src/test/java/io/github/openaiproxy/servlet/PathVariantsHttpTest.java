package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A route answers its exact path only. A trailing slash, a doubled slash, a path parameter, another case
 * or an encoded slash make another path: the servlet answers 404 (or the container refuses the request),
 * and the filter hands it down to the application, so a host application's security rule written for
 * {@code /images/generations} cannot be side-stepped by a variant the proxy would still serve.
 */
class PathVariantsHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final byte[] IMAGE = "{\"prompt\":\"a cat\"}".getBytes(StandardCharsets.UTF_8);

    static TomcatProxy servlet;
    static TomcatProxy filter;
    /** The servlet behind a host application's rule that refuses {@code /images/generations} to everyone. */
    static TomcatProxy guarded;

    /** A host application's security rule, written the plain way: for the path as the client sent it. */
    static final Filter DENY_IMAGES = (request, response, chain) -> {
        if (((HttpServletRequest) request).getRequestURI().equals("/images/generations")) {
            ((HttpServletResponse) response).sendError(403);
            return;
        }
        chain.doFilter(request, response);
    };

    @BeforeAll
    static void start() {
        servlet = TomcatProxy.servlet(Upstream.config(upstream).build());
        filter = TomcatProxy.filter(Upstream.config(upstream).build());
        guarded = TomcatProxy.servlet(Upstream.config(upstream).build(), DENY_IMAGES);
    }

    @AfterAll
    static void stop() {
        servlet.close();
        filter.close();
        guarded.close();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/images/generations",
                "/images/generations/",
                "/images/generations;jsessionid=x",
                "/images;x=1/generations",
                "//images/generations",
                "/images//generations",
                "/Images/generations",
                "/images/generations%2F",
                "/images/%67enerations"
            })
    void aHostRuleForAPathCannotBeSideSteppedByAVariant(String path) {
        RawHttp.Response r = post(guarded, path);

        assertThat(r.status()).as(r.bodyText()).isIn(400, 403, 404);
        Upstream.assertNoCalls(upstream);
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{}")));
    }

    static RawHttp.Response post(TomcatProxy proxy, String path) {
        return RawHttp.exchange(
                proxy.port(),
                "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + IMAGE.length + "\r\nConnection: close\r\n",
                IMAGE);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/images/generations/",
                "/generate-image/",
                "/sessions/",
                "/v1/chat/completions/",
                "/v1/images/generations/",
                "/v1/models/",
                "/v1/models/gpt-4o/",
                "//images/generations",
                "/images//generations",
                "/images/generations;jsessionid=x",
                "/images;x=1/generations",
                "/;jsessionid=x",
                "/sessions;jsessionid=x",
                "/v1/chat/completions;x=1",
                "/Images/generations",
                "/IMAGES/GENERATIONS",
                "/images%2Fgenerations",
                "/images/generations%2F",
                "/images/generations%2f",
                "/images/%67enerations"
            })
    void aVariantOfARoutesPathIsNotThatRoute(String path) {
        RawHttp.Response proxied = post(servlet, path);
        // Tomcat itself refuses some variants (an encoded slash) with 400; the rest are the proxy's 404.
        assertThat(proxied.status()).as(proxied.bodyText()).isIn(400, 404);
        if (proxied.status() == 404) {
            assertThat(proxied.bodyText()).contains("No route for POST");
        }

        RawHttp.Response filtered = post(filter, path);
        if (filtered.status() != 400) {
            // Not the proxy's: the application behind the filter answers (and its own rules apply).
            assertThat(filtered.status()).as(filtered.bodyText()).isEqualTo(200);
            assertThat(filtered.bodyText()).startsWith("app:");
        }
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/", "/images/generations", "/generate-image", "/v1/images/generations"})
    void theExactPathIsStillTheRoute(String path) {
        for (TomcatProxy proxy : new TomcatProxy[] {servlet, filter}) {
            RawHttp.Response r = post(proxy, path);
            assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("{}");
        }
        assertThat(Upstream.requests(upstream)).hasSize(2);
    }
}
