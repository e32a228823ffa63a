package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.testing.EngineHttp;
import io.github.openaiproxy.core.testing.EngineServer;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.net.http.HttpResponse;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CORS as a browser sees it, in process: preflights on every route, the headers on every answer to an
 * allowed origin (errors included), and nothing for an origin that is not allowed. A stream and a
 * same-origin request (its origin comes from the container's Host) are in servlet-adapter's CorsHttpTest.
 */
class ProxyEngineCorsTableTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String APP = "https://app.example.com";
    static final CorsConfig ALLOW_APP_AND_LOCALHOST = CorsConfig.builder()
            .allowedOrigins(List.of(APP))
            .allowedOriginPatterns(List.of("http://localhost:*"))
            .build();

    /** What a browser asks for on behalf of the official SDKs and a front end using x-openai-key. */
    static final String SDK_HEADERS = "content-type, authorization, x-openai-key, x-stainless-lang,"
            + " x-stainless-package-version, x-stainless-os, x-stainless-arch, x-stainless-runtime,"
            + " x-stainless-runtime-version, x-stainless-retry-count, x-stainless-timeout, openai-organization,"
            + " openai-project, openai-beta, idempotency-key, accept";

    /** Default CORS: no cross-origin access. */
    static EngineServer closed;
    /** {@link #APP} and {@code http://localhost:*} allowed. */
    static EngineServer open;
    /** The same origins, no key: every call is a 500. */
    static EngineServer openWithoutKey;
    /** The same origins, an upstream nobody listens on: every call is a 502. */
    static EngineServer openUnreachable;
    /** Any origin. */
    static EngineServer anyOrigin;

    @BeforeAll
    static void start() {
        closed = EngineServer.of(Upstream.config(upstream).build());
        open = EngineServer.of(
                Upstream.config(upstream).cors(ALLOW_APP_AND_LOCALHOST).build());
        openWithoutKey = EngineServer.of(ProxyConfig.builder()
                .upstream(Upstream.upstreamConfig(upstream))
                .cors(ALLOW_APP_AND_LOCALHOST)
                .build());
        openUnreachable = EngineServer.of(Upstream.config(upstream)
                .upstream(
                        UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:" + Upstream.closedPort())))
                .cors(ALLOW_APP_AND_LOCALHOST)
                .build());
        anyOrigin = EngineServer.of(Upstream.config(upstream)
                .cors(CorsConfig.builder().allowedOrigins(List.of("*")).build())
                .build());
    }

    @AfterAll
    static void stop() {
        for (EngineServer p : new EngineServer[] {closed, open, openWithoutKey, openUnreachable, anyOrigin}) {
            p.close();
        }
    }

    @BeforeEach
    void answerEverything() {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", "application/json")
                        .withHeader("x-request-id", "req_cors")
                        .withHeader("x-ratelimit-remaining-requests", "42")
                        .withBody("{\"ok\":true}")));
    }

    /** Every route with the method a browser would use there. */
    static Stream<Arguments> routes() {
        return Stream.of(
                arguments("POST", "/"),
                arguments("POST", "/images/generations"),
                arguments("POST", "/generate-image"),
                arguments("POST", "/v1/chat/completions"),
                arguments("POST", "/v1/images/generations"),
                arguments("POST", "/v1/embeddings"),
                arguments("POST", "/v1/responses"),
                arguments("GET", "/v1/models"),
                arguments("GET", "/v1/models/gpt-4o-mini"));
    }

    static HttpResponse<String> preflight(
            EngineServer proxy, String path, String origin, String method, String headers) {
        return EngineHttp.call(
                "OPTIONS",
                proxy.uri(path),
                null,
                "Origin",
                origin,
                "Access-Control-Request-Method",
                method,
                "Access-Control-Request-Headers",
                headers);
    }

    static HttpResponse<String> request(EngineServer proxy, String method, String path, String origin) {
        String body = method.equals("GET")
                ? null
                : path.contains("image")
                        ? "{\"prompt\":\"a cat\"}"
                        : "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        return body == null
                ? EngineHttp.call(method, proxy.uri(path), null, "Origin", origin)
                : EngineHttp.call(method, proxy.uri(path), body, "Origin", origin, "Content-Type", "application/json");
    }

    static List<String> tokens(HttpHeaders headers, String name) {
        return headers.allValues(name).stream()
                .flatMap(v -> Arrays.stream(v.split(",")))
                .map(s -> s.strip().toLowerCase(Locale.ROOT))
                .filter(s -> !s.isEmpty())
                .toList();
    }

    static void assertCorsHeadersFor(HttpResponse<String> r, String origin) {
        assertThat(r.headers().allValues("Access-Control-Allow-Origin"))
                .as("ACAO on %s", r.statusCode())
                .containsExactly(origin);
        assertThat(tokens(r.headers(), "Vary")).contains("origin");
        assertThat(tokens(r.headers(), "Access-Control-Expose-Headers"))
                .contains(
                        "x-request-id",
                        "openai-processing-ms",
                        "x-ratelimit-limit-requests",
                        "x-ratelimit-remaining-requests",
                        "x-ratelimit-remaining-tokens",
                        "x-ratelimit-reset-requests",
                        "retry-after");
    }

    static void assertNoCorsHeaders(HttpResponse<String> r) {
        assertThat(r.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        assertThat(r.headers().firstValue("Access-Control-Allow-Credentials")).isEmpty();
        assertThat(r.headers().firstValue("Access-Control-Allow-Methods")).isEmpty();
        assertThat(r.headers().firstValue("Access-Control-Allow-Headers")).isEmpty();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routes")
    void byDefaultNoOriginIsAllowed(String method, String path) {
        HttpResponse<String> pre = preflight(closed, path, APP, method, "content-type");
        assertJsonError(pre, 403);
        assertNoCorsHeaders(pre);

        HttpResponse<String> r = request(closed, method, path, "http://localhost:5173");
        assertJsonError(r, 403);
        assertNoCorsHeaders(r);
        Upstream.assertNoCalls(upstream);
    }

    static Stream<Arguments> preflights() {
        return routes().flatMap(
                        route -> Stream.of(APP, "http://localhost:5173", "http://localhost", "http://LOCALHOST:3000")
                                .map(origin -> arguments(route.get()[0], route.get()[1], origin)));
    }

    @ParameterizedTest(name = "{0} {1} from {2}")
    @MethodSource("preflights")
    void aPreflightFromAnAllowedOriginIsAnsweredForTheSdkHeaders(String method, String path, String origin) {
        HttpResponse<String> r = preflight(open, path, origin, method, SDK_HEADERS);

        assertThat(r.statusCode()).as(r.body()).isIn(200, 204);
        assertThat(r.body()).isEmpty();
        assertThat(r.headers().allValues("Access-Control-Allow-Origin")).containsExactly(origin);
        assertThat(tokens(r.headers(), "Access-Control-Allow-Methods")).contains(method.toLowerCase(Locale.ROOT));
        assertThat(tokens(r.headers(), "Access-Control-Allow-Headers"))
                .containsAll(
                        Arrays.stream(SDK_HEADERS.split(",")).map(String::strip).toList());
        assertThat(r.headers().allValues("Access-Control-Max-Age")).containsExactly("86400");
        assertThat(tokens(r.headers(), "Vary")).contains("origin");
        Upstream.assertNoCalls(upstream);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "https://evil.example",
                "http://localhost.evil.example",
                "http://localhost:5173.evil.example",
                "https://localhost:5173",
                "http://127.0.0.1:5173",
                "http://app.example.com",
                "https://app.example.com.evil.example",
                "https://sub.app.example.com",
                "https://app.example.com:8443",
                "null"
            })
    void anOriginThatIsNotAllowedGetsNoCorsHeadersAndA403Preflight(String origin) {
        for (Arguments route : routes().toList()) {
            String method = (String) route.get()[0];
            String path = (String) route.get()[1];

            HttpResponse<String> pre = preflight(open, path, origin, method, "content-type");
            assertJsonError(pre, 403);
            assertNoCorsHeaders(pre);

            HttpResponse<String> r = request(open, method, path, origin);
            assertThat(r.statusCode()).isEqualTo(403);
            assertNoCorsHeaders(r);
        }
        Upstream.assertNoCalls(upstream);
    }

    @Test
    void aPreflightForAMethodOrHeaderTheRouteDoesNotTakeIs403() {
        HttpResponse<String> method = preflight(open, "/v1/chat/completions", APP, "DELETE", "content-type");
        assertJsonError(method, 403);
        assertNoCorsHeaders(method);

        HttpResponse<String> header = preflight(open, "/v1/models", APP, "GET", "content-type, x-evil-header");
        assertJsonError(header, 403);
        assertNoCorsHeaders(header);
    }

    /** Ways to provoke each kind of answer from an allowed origin. */
    static Stream<Arguments> answersToAnAllowedOrigin() {
        Function<String, HttpResponse<String>> success =
                origin -> request(open, "POST", "/v1/chat/completions", origin);
        return Stream.of(
                arguments("200", 200, success),
                arguments("200 GET", 200, (Function<String, HttpResponse<String>>)
                        origin -> request(open, "GET", "/v1/models", origin)),
                arguments("400", 400, (Function<String, HttpResponse<String>>) origin -> EngineHttp.call(
                        "POST",
                        open.uri("/"),
                        "{\"messages\":\"x\"}",
                        "Origin",
                        origin,
                        "Content-Type",
                        "application/json")),
                arguments("404", 404, (Function<String, HttpResponse<String>>)
                        origin -> EngineHttp.call("GET", open.uri("/v1/nowhere"), null, "Origin", origin)),
                arguments("404 seed", 404, (Function<String, HttpResponse<String>>)
                        origin -> EngineHttp.call("GET", open.uri("/nowhere"), null, "Origin", origin)),
                arguments("405", 405, (Function<String, HttpResponse<String>>)
                        origin -> EngineHttp.call("GET", open.uri("/"), null, "Origin", origin)),
                arguments("415", 415, (Function<String, HttpResponse<String>>) origin -> EngineHttp.call(
                        "POST", open.uri("/v1/embeddings"), "x", "Origin", origin, "Content-Type", "text/plain")),
                arguments("403 client key", 403, (Function<String, HttpResponse<String>>) origin -> EngineHttp.call(
                        "GET", open.uri("/v1/models"), null, "Origin", origin, "x-openai-key", "sk-client-123456789")),
                arguments("500", 500, (Function<String, HttpResponse<String>>)
                        origin -> request(openWithoutKey, "POST", "/", origin)),
                arguments("502", 502, (Function<String, HttpResponse<String>>)
                        origin -> request(openUnreachable, "POST", "/v1/chat/completions", origin)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("answersToAnAllowedOrigin")
    void everyAnswerToAnAllowedOriginCarriesTheCorsHeaders(
            String name, int status, Function<String, HttpResponse<String>> call) {
        for (String origin : List.of(APP, "http://localhost:5173")) {
            HttpResponse<String> r = call.apply(origin);

            assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
            assertCorsHeadersFor(r, origin);
        }
    }

    @ParameterizedTest(name = "upstream {0}")
    @ValueSource(ints = {401, 429, 500})
    void upstreamErrorsRelayedToAnAllowedOriginCarryTheCorsHeaders(int status) {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(status)
                        .withHeader("Content-Type", "application/json")
                        .withHeader("retry-after", "3")
                        .withHeader("access-control-allow-origin", "*")
                        .withBody("{\"error\":{\"message\":\"no\",\"type\":\"x\",\"param\":null,\"code\":null}}")));
        for (String path : List.of("/", "/v1/chat/completions")) {
            HttpResponse<String> r = request(open, "POST", path, APP);

            assertThat(r.statusCode()).isEqualTo(status);
            assertCorsHeadersFor(r, APP);
            assertThat(r.headers().firstValue("retry-after")).contains("3");
        }
    }

    @Test
    void anyOriginIsAnsweredWithAStar() {
        HttpResponse<String> pre =
                preflight(anyOrigin, "/v1/chat/completions", "https://anyone.example", "POST", SDK_HEADERS);
        assertThat(pre.statusCode()).isIn(200, 204);
        assertThat(pre.headers().allValues("Access-Control-Allow-Origin")).containsExactly("*");
        assertThat(pre.headers().firstValue("Access-Control-Allow-Credentials")).isEmpty();

        HttpResponse<String> r = request(anyOrigin, "POST", "/v1/chat/completions", "https://anyone.example");
        assertThat(r.statusCode()).isEqualTo(200);
        assertCorsHeadersFor(r, "*");
    }

    @Test
    void credentialsAreAllowedOnlyForNamedOrigins() {
        try (EngineServer withCredentials = EngineServer.of(Upstream.config(upstream)
                .cors(ALLOW_APP_AND_LOCALHOST.toBuilder().allowCredentials(true).build())
                .build())) {
            HttpResponse<String> pre = preflight(withCredentials, "/", APP, "POST", "content-type");
            assertThat(pre.headers().allValues("Access-Control-Allow-Origin")).containsExactly(APP);
            assertThat(pre.headers().allValues("Access-Control-Allow-Credentials"))
                    .containsExactly("true");

            HttpResponse<String> r = request(withCredentials, "POST", "/", APP);
            assertCorsHeadersFor(r, APP);
            assertThat(r.headers().allValues("Access-Control-Allow-Credentials"))
                    .containsExactly("true");
        }
    }
}
