package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertNoSecrets;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.json;
import static io.github.openaiproxy.core.testing.Upstream.SERVER_KEY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.http.Fault;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.testing.EngineHttp;
import io.github.openaiproxy.core.testing.EngineServer;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the client gets when the upstream fails: its errors (masked, wrapped on the simple routes,
 * relayed on {@code /v1}), its useful headers and only those, and the proxy's own 502 and 504, in
 * process. A body that breaks after the headers (the client must not be left waiting) is in
 * servlet-adapter's UpstreamErrorHttpTest.
 */
class ProxyEngineUpstreamErrorTableTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String CLIENT_KEY = "client-Secret-Key-0123456789abcdef";

    /** Server key, and client keys enabled so that both kinds of key can be echoed. */
    static EngineServer proxy;
    /** Points at a local port nothing listens on. */
    static EngineServer unreachable;
    /** Waits a quarter of a second for the upstream's response headers (the stub takes five). */
    static EngineServer impatient;

    @BeforeAll
    static void start() {
        proxy = EngineServer.of(Upstream.config(upstream).allowClientKey(true).build());
        unreachable = EngineServer.of(ProxyConfig.builder()
                .apiKey(SERVER_KEY)
                .upstream(UpstreamConfig.defaults()
                        .withBaseUrl(URI.create("http://127.0.0.1:" + Upstream.closedPort()))
                        .withConnectTimeout(Duration.ofSeconds(20)))
                .build());
        impatient = EngineServer.of(Upstream.config(upstream)
                .upstream(Upstream.upstreamConfig(upstream).withResponseTimeout(Duration.ofMillis(250)))
                .build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
        unreachable.close();
        impatient.close();
    }

    /** One request per route kind: method, path, body, error style. */
    static Stream<Arguments> routeKinds() {
        return Stream.of(
                arguments("POST", "/", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "seed"),
                arguments("POST", "/images/generations", "{\"prompt\":\"a cat\"}", "seed"),
                arguments("POST", "/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", "openai"),
                arguments("GET", "/v1/models/gpt-4o", null, "openai"));
    }

    private static HttpResponse<String> send(
            EngineServer target, String method, String path, String body, String... headerPairs) {
        List<String> headers = new ArrayList<>(List.of(headerPairs));
        if (body != null) {
            headers.add("Content-Type");
            headers.add("application/json");
        }
        return EngineHttp.call(method, target.uri(path), body, headers.toArray(String[]::new));
    }

    /** How OpenAI echoes a wrong key: its first characters, stars, its last four. */
    static String openAiEcho(String key) {
        return key.substring(0, 8) + "*".repeat(key.length() - 12) + key.substring(key.length() - 4);
    }

    static String invalidKeyError(String echo) {
        return "{\n    \"error\": {\n        \"message\": \"Incorrect API key provided: " + echo
                + ". You can find your API key at https://platform.openai.com/account/api-keys.\",\n"
                + "        \"type\": \"invalid_request_error\",\n        \"param\": null,\n"
                + "        \"code\": \"invalid_api_key\"\n    }\n}\n";
    }

    static Stream<Arguments> keyEchoes() {
        List<Arguments> all = new ArrayList<>();
        for (Arguments route : routeKinds().toList()) {
            Object[] r = route.get();
            all.add(arguments(r[0], r[1], r[2], r[3], "server key, starred", null, openAiEcho(SERVER_KEY)));
            all.add(arguments(r[0], r[1], r[2], r[3], "server key, whole", null, SERVER_KEY));
            all.add(arguments(r[0], r[1], r[2], r[3], "client key, starred", CLIENT_KEY, openAiEcho(CLIENT_KEY)));
            all.add(arguments(r[0], r[1], r[2], r[3], "client key, whole", CLIENT_KEY, CLIENT_KEY));
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1}, {4}")
    @MethodSource("keyEchoes")
    void anUpstream401EchoingTheKeyBecomesAFixedMessageAndKeepsItsStatus(
            String method, String path, String body, String style, String echoed, String clientKey, String echo) {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(401)
                        .withHeader("Content-Type", "application/json; charset=utf-8")
                        .withHeader("x-request-id", "req_401")
                        .withBody(invalidKeyError(echo))));

        HttpResponse<String> r = clientKey == null
                ? send(proxy, method, path, body)
                : send(proxy, method, path, body, "x-openai-key", clientKey);

        assertThat(r.headers().firstValue("x-request-id")).contains("req_401");
        assertThat(r.body()).doesNotContain(echo).doesNotContain("Incorrect API key");
        assertNoSecrets(r, SERVER_KEY, CLIENT_KEY);
        String refused = clientKey == null
                ? "The upstream API refused the proxy's API key"
                : "The upstream API refused the API key sent in x-openai-key";
        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 401, "OpenAI API Error")).isEqualTo("OpenAI API returned 401: " + refused);
            assertThat(json(r.body()).path("status").intValue()).isEqualTo(401);
        } else {
            JsonNode error = assertOpenAiError(r, 401, "invalid_request_error", "invalid_api_key");
            assertThat(error.get("param").isNull()).isTrue();
            assertThat(error.path("message").textValue()).isEqualTo(refused + ".");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void anUpstream403BecomesAFixedMessageAndKeepsItsStatus(String method, String path, String body, String style) {
        // OpenAI's 403s quote client text ("... does not have access to model `<model>`").
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(403)
                        .withHeader("Content-Type", "application/json")
                        .withHeader("x-request-id", "req_403")
                        .withBody("{\"error\":{\"message\":\"Project `proj_abc` does not have access to model"
                                + " `gpt-x`\",\"type\":\"invalid_request_error\",\"param\":null,"
                                + "\"code\":\"model_not_found\"}}")));

        HttpResponse<String> r = send(proxy, method, path, body);

        assertThat(r.headers().firstValue("x-request-id")).contains("req_403");
        assertThat(r.body()).doesNotContain("gpt-x").doesNotContain("proj_abc");
        String denied = "The upstream API denied the proxy's API key access to this request";
        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 403, "OpenAI API Error")).isEqualTo("OpenAI API returned 403: " + denied);
        } else {
            assertThat(assertOpenAiError(r, 403, "permission_error", "permission_denied")
                            .path("message")
                            .textValue())
                    .isEqualTo(denied + ".");
        }
    }

    /** OpenAI's answer to an unknown model: its message quotes the model string as the client sent it. */
    static final String MODEL_NOT_FOUND = "{\"error\":{\"message\":\"The model `{{jsonPath request.body '$.model'}}`"
            + " does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\","
            + "\"param\":null,\"code\":\"model_not_found\"}}";

    /**
     * Model strings built from the server key that are not key-shaped: each must come back as sent, or the
     * answer tells the client which of its guesses is part of the key.
     */
    static List<String> keyPieces() {
        List<String> pieces = new ArrayList<>();
        for (int i = 1; i + 8 <= SERVER_KEY.length(); i++) {
            pieces.add(SERVER_KEY.substring(i, i + 8)); // every 8-character window but the "sk-proj-" one
        }
        for (int n = 1; n <= 5; n++) {
            pieces.add(SERVER_KEY.substring(0, n)); // prefixes too short to be key-shaped: "s" .. "sk-pr"
        }
        for (int from : new int[] {1, 3, 8, SERVER_KEY.length() - 12, SERVER_KEY.length() - 4}) {
            pieces.add(SERVER_KEY.substring(from)); // suffixes, up to the key without its first character
        }
        pieces.add(SERVER_KEY.substring(1, SERVER_KEY.length() - 1));
        pieces.add("x" + SERVER_KEY.substring(1)); // the key with its first character changed
        pieces.add("gpt-4o-" + SERVER_KEY.substring(8, 20) + "-" + SERVER_KEY.substring(30));
        return pieces;
    }

    /**
     * Key-shaped model strings: masked by their shape, so they come back exactly as an unrelated token of
     * the same shape does.
     */
    static List<String> keyShaped() {
        String key = SERVER_KEY;
        return List.of(
                key.substring(0, 8),
                key.substring(0, 12),
                key.substring(0, key.length() - 1),
                key.substring(0, key.length() - 1) + "q", // the key with its last character changed
                key + "0",
                "sk-proj-unrelatedToken0123456789abcdefghij");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"/v1/chat/completions", "/"})
    void anUpstreamErrorQuotingTheModelReturnsItUnchangedWhateverTheServerKeyContains(String path) {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(404)
                        .withTransformers("response-template")
                        .withHeader("Content-Type", "application/json")
                        .withHeader("x-request-id", "req_404")
                        .withBody(MODEL_NOT_FOUND)));
        String baselineModel = "baseline-model-name";
        HttpResponse<String> baseline = askForModel(path, baselineModel);
        assertThat(baseline.statusCode()).as(baseline.body()).isEqualTo(404);
        assertThat(baseline.body()).contains("The model `" + baselineModel + "` does not exist");

        Map<String, String> expectedEchoes = new LinkedHashMap<>();
        keyPieces().forEach(p -> expectedEchoes.put(p, p));
        keyShaped().forEach(p -> expectedEchoes.put(p, "[redacted]"));
        for (Map.Entry<String, String> e : expectedEchoes.entrySet()) {
            String model = e.getKey();
            HttpResponse<String> r = askForModel(path, model);

            // Two requests that differ only in the model string get answers that differ only in that text,
            // and that text is the model string (or the mask, for a key-shaped one, whatever the key is).
            assertThat(r.statusCode()).isEqualTo(404);
            assertThat(r.body())
                    .as("answer for model %s", model)
                    .isEqualTo(baseline.body().replace(baselineModel, e.getValue()));
            assertThat(withoutLength(r)).as("headers for model %s", model).isEqualTo(withoutLength(baseline));
            assertThat(r.headers().firstValue("content-length"))
                    .contains(Integer.toString(r.body().getBytes(StandardCharsets.UTF_8).length));
        }
    }

    private static HttpResponse<String> askForModel(String path, String model) {
        return send(
                proxy,
                "POST",
                path,
                "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    /**
     * The response headers except the body's length (and those a container would add by itself).
     */
    private static Map<String, List<String>> withoutLength(HttpResponse<String> r) {
        Map<String, List<String>> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        h.putAll(r.headers().map());
        h.remove("content-length");
        h.remove("date");
        h.remove("connection");
        h.remove("keep-alive");
        return h;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void upstreamErrorsKeepTheirStatusWrappedOnSimpleRoutesAndVerbatimOnV1(
            String method, String path, String body, String style) {
        String openAiError = "{ \"error\" : {\"message\":\"Invalid value for 'temperature': 3 > 2 \u2014 \u00fcber\","
                + "\"type\":\"invalid_request_error\",\"param\":\"temperature\",\"code\":\"decimal_above_max_value\"} }";
        for (int status : new int[] {400, 404, 409, 422, 500, 503}) {
            upstream.stubFor(any(anyUrl())
                    .willReturn(aResponse()
                            .withStatus(status)
                            .withHeader("Content-Type", "application/json")
                            .withBody(openAiError.getBytes(StandardCharsets.UTF_8))));

            HttpResponse<String> r = send(proxy, method, path, body);

            assertThat(r.statusCode()).isEqualTo(status);
            if (style.equals("seed")) {
                assertThat(assertSeedError(r, status, "OpenAI API Error"))
                        .isEqualTo("OpenAI API returned " + status + ": " + openAiError);
                assertThat(json(r.body()).path("status").intValue()).isEqualTo(status);
                assertThat(json(r.body()).size()).isEqualTo(3);
            } else {
                assertThat(r.body()).isEqualTo(openAiError);
                assertThat(r.headers().firstValue("content-type")).contains("application/json");
            }
        }
    }

    static final Map<String, String> USEFUL_HEADERS = Map.of(
            "x-request-id", "req_abc123",
            "openai-processing-ms", "321",
            "openai-version", "2020-10-01",
            "x-ratelimit-limit-requests", "10000",
            "x-ratelimit-remaining-requests", "9999",
            "x-ratelimit-limit-tokens", "2000000",
            "x-ratelimit-remaining-tokens", "1999000",
            "x-ratelimit-reset-requests", "6ms",
            "x-ratelimit-reset-tokens", "30ms",
            "retry-after-ms", "1500");

    static final Map<String, String> OTHER_HEADERS = Map.of(
            "set-cookie", "__cf_bm=secret-cookie; path=/; HttpOnly",
            "server", "cloudflare",
            "cf-ray", "8f1234567890abcd-FRA",
            "cf-cache-status", "DYNAMIC",
            "strict-transport-security", "max-age=31536000",
            "alt-svc", "h3=\":443\"; ma=86400",
            "openai-organization", "org-upstream-secret",
            "access-control-allow-origin", "*",
            "via", "1.1 upstream");

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void usefulUpstreamHeadersAreRelayedAndNoOthers(String method, String path, String body, String style) {
        for (int status : new int[] {200, 400, 429, 500}) {
            ResponseDefinitionBuilder answer = aResponse()
                    .withStatus(status)
                    .withHeader("Content-Type", "application/json")
                    .withHeader("retry-after", "7")
                    .withHeader("x-content-type-options", "upstream-value")
                    .withBody(status == 200 ? "{\"ok\":true}" : "{\"error\":{\"message\":\"nope\"}}");
            USEFUL_HEADERS.forEach(answer::withHeader);
            OTHER_HEADERS.forEach(answer::withHeader);
            upstream.stubFor(any(anyUrl()).willReturn(answer));

            HttpResponse<String> r = send(proxy, method, path, body);

            assertThat(r.statusCode()).isEqualTo(status);
            USEFUL_HEADERS.forEach((name, value) ->
                    assertThat(r.headers().allValues(name)).as(name).containsExactly(value));
            assertThat(r.headers().allValues("retry-after")).containsExactly("7");
            // The proxy's own, once: the upstream's is not relayed.
            assertThat(r.headers().allValues("x-content-type-options")).containsExactly("nosniff");
            OTHER_HEADERS
                    .keySet()
                    .forEach(name -> assertThat(r.headers().firstValue(name))
                            .as("%s on %s", name, status)
                            .isEmpty());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void rateLimitedIs429WithRetryAfter(String method, String path, String body, String style) {
        String rateLimited = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini on requests per min (RPM):"
                + " Limit 3, Used 3, Requested 1. Please try again in 20s.\",\"type\":\"requests\",\"param\":null,"
                + "\"code\":\"rate_limit_exceeded\"}}";
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse()
                        .withStatus(429)
                        .withHeader("Content-Type", "application/json")
                        .withHeader("retry-after", "20")
                        .withHeader("x-ratelimit-remaining-requests", "0")
                        .withHeader("x-ratelimit-reset-requests", "20s")
                        .withBody(rateLimited)));

        HttpResponse<String> r = send(proxy, method, path, body);

        assertThat(r.statusCode()).isEqualTo(429);
        assertThat(r.headers().firstValue("retry-after")).contains("20");
        assertThat(r.headers().firstValue("x-ratelimit-remaining-requests")).contains("0");
        assertThat(r.headers().firstValue("x-ratelimit-reset-requests")).contains("20s");
        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 429, "OpenAI API Error"))
                    .isEqualTo("OpenAI API returned 429: " + rateLimited);
            assertThat(json(r.body()).path("status").intValue()).isEqualTo(429);
        } else {
            assertThat(r.body()).isEqualTo(rateLimited);
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void anUnreachableUpstreamIs502(String method, String path, String body, String style) {
        HttpResponse<String> r = send(unreachable, method, path, body);

        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 502, "Bad Gateway")).isEqualTo("Could not reach the upstream API");
        } else {
            assertOpenAiError(r, 502, "server_error", "upstream_unreachable");
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = Fault.class,
            names = {"EMPTY_RESPONSE", "CONNECTION_RESET_BY_PEER", "RANDOM_DATA_THEN_CLOSE"})
    void anUpstreamThatBreaksBeforeAnsweringIs502(Fault fault) {
        upstream.stubFor(any(anyUrl()).willReturn(aResponse().withFault(fault)));
        for (Arguments route : routeKinds().toList()) {
            Object[] a = route.get();
            HttpResponse<String> r = send(proxy, (String) a[0], (String) a[1], (String) a[2]);

            if (a[3].equals("seed")) {
                assertSeedError(r, 502, "Bad Gateway");
            } else {
                assertOpenAiError(r, 502, "server_error", "upstream_unreachable");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void anUpstreamSlowerThanTheResponseTimeoutIs504(String method, String path, String body, String style) {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse().withStatus(200).withFixedDelay(5_000).withBody("{}")));

        HttpResponse<String> r = send(impatient, method, path, body);

        if (style.equals("seed")) {
            assertThat(assertSeedError(r, 504, "Gateway Timeout")).isEqualTo("The upstream API did not answer in time");
        } else {
            assertOpenAiError(r, 504, "server_error", "upstream_timeout");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {301, 302, 307, 308})
    void anUpstreamRedirectIsNotFollowedNorShownToTheClient(int status) {
        upstream.stubFor(any(anyUrl())
                .willReturn(aResponse().withStatus(status).withHeader("Location", "http://evil.example/steal")));
        for (Arguments route : routeKinds().toList()) {
            Object[] a = route.get();
            upstream.resetRequests();

            HttpResponse<String> r = send(proxy, (String) a[0], (String) a[1], (String) a[2]);

            assertJsonError(r, 502);
            assertThat(r.headers().firstValue("Location")).isEmpty();
            assertThat(r.body()).doesNotContain("evil.example");
            assertThat(Upstream.requests(upstream)).hasSize(1);
        }
    }
}
