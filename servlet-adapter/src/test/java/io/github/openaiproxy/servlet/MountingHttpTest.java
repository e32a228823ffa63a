package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertOpenAiError;
import static io.github.openaiproxy.servlet.support.RawAssertions.assertSeedError;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Where the proxy lives inside a web application: the servlet under a prefix (also in a non-root
 * context), and the filter under {@code ProxyConfig.path}, which hands everything else to the app.
 */
class MountingHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    /** The servlet mapped to {@code /ai/*}. */
    static TomcatProxy servlet;
    /** The servlet mapped to {@code /ai/*} in the context {@code /shop}. */
    static TomcatProxy servletInContext;
    /** The filter with {@code path("/ai")} in front of the app servlet. */
    static TomcatProxy filter;
    /** The filter with the default path {@code /} in front of the app servlet. */
    static TomcatProxy rootFilter;

    @BeforeAll
    static void start() {
        servlet = TomcatProxy.servlet(Upstream.config(upstream).build(), "/ai/*");
        servletInContext =
                TomcatProxy.servletInContext(Upstream.config(upstream).build(), "/shop", "/ai/*");
        filter = TomcatProxy.filter(Upstream.config(upstream).path("/ai").build());
        rootFilter = TomcatProxy.filter(Upstream.config(upstream).build());
    }

    @AfterAll
    static void stop() {
        for (TomcatProxy p : new TomcatProxy[] {servlet, servletInContext, filter, rootFilter}) {
            p.close();
        }
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"ok\":true}")));
    }

    private static HttpResponse<String> send(TomcatProxy proxy, String method, String pathAndQuery) {
        return method.equals("GET")
                ? Http.get(proxy.uri(pathAndQuery))
                : Http.postJson(
                        proxy.uri(pathAndQuery), pathAndQuery.contains("image") ? "{\"prompt\":\"a cat\"}" : CHAT);
    }

    private static void assertProxiedTo(HttpResponse<String> r, String method, String upstreamUrl) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"ok\":true}");
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getMethod().getName()).isEqualTo(method);
        assertThat(sent.getUrl()).isEqualTo(upstreamUrl);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "GET,  /ai/v1/models,                 /v1/models",
        "GET,  /ai/v1/models/gpt-4o?x=1,      /v1/models/gpt-4o?x=1",
        "POST, /ai/,                          /v1/chat/completions",
        "POST, /ai,                           /v1/chat/completions",
        "POST, /ai/images/generations,        /v1/images/generations",
        "POST, /ai/generate-image,            /v1/images/generations",
        "POST, /ai/v1/chat/completions,       /v1/chat/completions",
    })
    void theServletUnderAPrefixAnswersItsRoutes(String method, String path, String upstreamUrl) {
        assertProxiedTo(send(servlet, method, path), method, upstreamUrl);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "GET,  /shop/ai/v1/models,            /v1/models",
        "POST, /shop/ai/,                     /v1/chat/completions",
        "POST, /shop/ai/v1/chat/completions,  /v1/chat/completions",
    })
    void theServletInANonRootContextAnswersItsRoutes(String method, String path, String upstreamUrl) {
        assertProxiedTo(send(servletInContext, method, path), method, upstreamUrl);
    }

    @Test
    void unknownPathsUnderTheServletPrefixAre404Json() {
        assertThat(assertSeedError(Http.get(servlet.uri("/ai/unknown")), 404, "Not Found"))
                .contains("/unknown")
                .doesNotContain("/ai/");
        assertOpenAiError(Http.get(servlet.uri("/ai/v1/unknown")), 404, "invalid_request_error", "unknown_url");
        assertSeedError(Http.get(servletInContext.uri("/shop/ai/unknown")), 404, "Not Found");
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1/models", "/aix/v1/models", "/shop/v1/models", "/", "/images/generations"})
    void pathsOutsideTheServletPrefixAreNotTheProxys(String path) {
        HttpResponse<String> r = Http.get(servlet.uri(path));
        HttpResponse<String> inContext = Http.get(servletInContext.uri(path));

        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(inContext.statusCode()).isEqualTo(404);
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "GET,  /ai/v1/models,                 /v1/models",
        "GET,  /ai/v1/models/gpt-4o?x=1,      /v1/models/gpt-4o?x=1",
        "POST, /ai/,                          /v1/chat/completions",
        "POST, /ai,                           /v1/chat/completions",
        "POST, /ai/images/generations,        /v1/images/generations",
        "POST, /ai/v1/chat/completions,       /v1/chat/completions",
        "POST, /ai/v1/embeddings,             /v1/embeddings",
    })
    void theFilterAnswersTheRoutesBelowItsPath(String method, String path, String upstreamUrl) {
        assertProxiedTo(send(filter, method, path), method, upstreamUrl);
    }

    @Test
    void theFilterAnswersPreflightsForItsRoutesAndLeavesOtherMethodsToTheApplication() {
        HttpResponse<String> preflight = Http.call(
                "OPTIONS",
                filter.uri("/ai/v1/models"),
                null,
                "Origin",
                "http://127.0.0.1:1",
                "Access-Control-Request-Method",
                "GET");
        assertThat(preflight.statusCode()).isIn(204, 403);
        assertThat(preflight.body()).doesNotStartWith("app:");

        // A method the route does not take, or a plain OPTIONS, is the application's business.
        assertThat(Http.postJson(filter.uri("/ai/v1/models"), "{}").body()).isEqualTo("app:/ai/v1/models");
        assertThat(Http.call("OPTIONS", filter.uri("/ai/v1/models"), null).body())
                .isEqualTo("app:/ai/v1/models");
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "GET,  /other",
        "POST, /other",
        "GET,  /ai/unknown",
        "POST, /ai/unknown",
        "GET,  /ai/v1/unknown",
        "GET,  /ai/v1/models/a//b",
        "GET,  /ai/v1/models/a/../b",
        "GET,  /v1/models",
        "POST, /v1/chat/completions",
        "GET,  /aix/v1/models",
        "POST, /aiimages/generations",
        "GET,  /",
        "POST, /",
        "GET,  /index.html",
    })
    void theFilterHandsEverythingElseToTheApplication(String method, String path) {
        HttpResponse<String> r = send(filter, method, path);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("app:" + path);
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void theFilterAtTheRootProxiesItsRoutesAndPassesTheRest() {
        assertProxiedTo(send(rootFilter, "POST", "/"), "POST", "/v1/chat/completions");
        upstream.resetRequests();
        assertProxiedTo(send(rootFilter, "GET", "/v1/models"), "GET", "/v1/models");
        upstream.resetRequests();

        // The application keeps its home page: GET / is not a proxy route's method.
        assertThat(Http.get(rootFilter.uri("/")).body()).isEqualTo("app:/");

        for (String path : new String[] {"/index.html", "/nowhere", "/v1/nowhere", "/api/users"}) {
            HttpResponse<String> r = Http.get(rootFilter.uri(path));
            assertThat(r.body()).isEqualTo("app:" + path);
        }
        Upstream.assertNoCalls(upstream);
    }

    /**
     * Paths that try to step out of the mount point or hide separators: whoever answers, the upstream
     * only ever sees a plain {@code /v1/...} path.
     */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "/ai/../v1/models",
                "/ai/v1/../v1/models",
                "/ai/v1/models/..",
                "/ai/v1/models/%2e%2e",
                "/ai/v1/models/%2E%2E/..%2F",
                "/ai/v1/models/a%5Cb",
                "/ai//v1/models",
                "/ai/v1//models",
                "/ai/v1/models;x=1",
                "/ai;x=1/v1/models",
                "/x/../ai/v1/models/gpt-4o"
            })
    void trickyPathsNeverReachTheUpstreamOutsideV1(String path) {
        for (TomcatProxy proxy : new TomcatProxy[] {servlet, filter}) {
            RawHttp.Response r = RawHttp.exchange(
                    proxy.port(), "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", new byte[0]);

            assertThat(r.status())
                    .as(new String(r.body(), StandardCharsets.UTF_8))
                    .isLessThan(500);
        }
        for (LoggedRequest sent : Upstream.requests(upstream)) {
            assertThat(sent.getUrl()).matches("/v1/models(/[A-Za-z0-9_.:-]+)?").doesNotContain("..");
        }
    }
}
