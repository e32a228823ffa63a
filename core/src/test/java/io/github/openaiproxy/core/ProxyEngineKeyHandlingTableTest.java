package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertJsonError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertNoSecrets;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertOpenAiError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.assertSeedError;
import static io.github.openaiproxy.core.testing.ProxyAssertions.json;
import static io.github.openaiproxy.core.testing.Upstream.SERVER_KEY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.EngineHttp;
import io.github.openaiproxy.core.testing.EngineServer;
import io.github.openaiproxy.core.testing.Upstream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
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
 * Which key goes upstream, what never does, and the errors when there is no usable key. Every route
 * kind is covered: the chat and image simple routes, a {@code /v1} POST and a {@code /v1} GET.
 */
class ProxyEngineKeyHandlingTableTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final String CLIENT_KEY = "client-Secret-Key-0123456789abcdef";
    static final String SDK_PLACEHOLDER_KEY = "sk-client-sdk-placeholder-987654321";

    /** Server key, client keys disabled (the default), organization and project configured. */
    static EngineServer serverKey;
    /** Server key, client keys enabled. */
    static EngineServer clientKeys;
    /** No server key, client keys enabled. */
    static EngineServer clientKeysOnly;
    /** No key at all. */
    static EngineServer noKey;

    /** Every header the upstream may see (pass-through adds only openai-beta and idempotency-key). */
    static final Set<String> ALLOWED_UPSTREAM_HEADERS = Set.of(
            "authorization",
            "user-agent",
            "content-type",
            "accept",
            "accept-encoding", // always identity, the proxy's own (ProxyEngineUpstreamRequestTest)
            "content-length",
            "host",
            "openai-organization",
            "openai-project");

    @BeforeAll
    static void start() {
        serverKey = EngineServer.of(Upstream.config(upstream)
                .upstream(Upstream.upstreamConfig(upstream)
                        .withOrganization("org-config")
                        .withProject("proj-config"))
                .build());
        clientKeys =
                EngineServer.of(Upstream.config(upstream).allowClientKey(true).build());
        clientKeysOnly = EngineServer.of(ProxyConfig.builder()
                .upstream(Upstream.upstreamConfig(upstream))
                .allowClientKey(true)
                .build());
        noKey = EngineServer.of(ProxyConfig.builder()
                .upstream(Upstream.upstreamConfig(upstream))
                .build());
    }

    @AfterAll
    static void stop() {
        serverKey.close();
        clientKeys.close();
        clientKeysOnly.close();
        noKey.close();
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

    private static HttpResponse<String> send(
            EngineServer proxy, String method, String path, String body, String... headerPairs) {
        List<String> headers = new ArrayList<>(List.of(headerPairs));
        if (body != null) {
            headers.add("Content-Type");
            headers.add("application/json");
        }
        return EngineHttp.call(method, proxy.uri(path), body, headers.toArray(String[]::new));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void theServerKeyGoesUpstreamAsBearerWithTheConfiguredOrganization(
            String method, String path, String body, String style) {
        HttpResponse<String> r = send(serverKey, method, path, body);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"ok\":true}");
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(sent.getHeader("OpenAI-Organization")).isEqualTo("org-config");
        assertThat(sent.getHeader("OpenAI-Project")).isEqualTo("proj-config");
        assertNoSecrets(r, SERVER_KEY);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void clientCredentialsAndChoicesNeverReachTheUpstream(String method, String path, String body, String style) {
        HttpResponse<String> r = send(
                serverKey,
                method,
                path,
                body,
                "Authorization",
                "Bearer " + SDK_PLACEHOLDER_KEY,
                "Cookie",
                "session=abc123; other=1",
                "X-Api-Key",
                "sk-other-client-key",
                "OpenAI-Organization",
                "org-client",
                "OpenAI-Project",
                "proj-client",
                "X-Forwarded-For",
                "10.0.0.1",
                "X-Forwarded-Host",
                "evil.example",
                "X-Stainless-Lang",
                "java",
                "User-Agent",
                "client-agent/1.0");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(Upstream.headerNames(sent)).isSubsetOf(ALLOWED_UPSTREAM_HEADERS);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
        assertThat(sent.getHeader("OpenAI-Organization")).isEqualTo("org-config");
        assertThat(sent.getHeader("OpenAI-Project")).isEqualTo("proj-config");
        assertThat(sent.getHeader("User-Agent")).doesNotContain("client-agent");
        assertNoSecrets(r, SERVER_KEY, SDK_PLACEHOLDER_KEY);
    }

    @Test
    void passThroughRelaysOnlyTheOpenAiHeadersTheSdksNeed() {
        HttpResponse<String> r = EngineHttp.postJson(
                serverKey.uri("/v1/responses"),
                "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\"}",
                "OpenAI-Beta",
                "assistants=v2",
                "Idempotency-Key",
                "idem-1",
                "Cookie",
                "session=abc123",
                "Authorization",
                "Bearer " + SDK_PLACEHOLDER_KEY);

        assertThat(r.statusCode()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(sent.getHeader("OpenAI-Beta")).isEqualTo("assistants=v2");
        assertThat(sent.getHeader("Idempotency-Key")).isEqualTo("idem-1");
        assertThat(sent.containsHeader("Cookie")).isFalse();
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void hopByHopHeadersNeverReachTheUpstream(String method, String path, String body, String style) {
        // Over HTTP (servlet-adapter's KeyHandlingHttpTest) these come in a raw request head; here as headers.
        HttpResponse<String> r = send(
                serverKey,
                method,
                path,
                body,
                "Connection",
                "keep-alive, X-Hop-Secret",
                "Keep-Alive",
                "timeout=5, max=100",
                "TE",
                "trailers",
                "Trailer",
                "X-Checksum",
                "Upgrade",
                "example/1",
                "X-Hop-Secret",
                "hop-value",
                "Proxy-Authorization",
                "Basic dXNlcjpwYXNz",
                "Proxy-Connection",
                "keep-alive",
                "Authorization",
                "Bearer " + SDK_PLACEHOLDER_KEY,
                "Cookie",
                "session=abc123");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(upstream);
        assertThat(Upstream.headerNames(sent)).isSubsetOf(ALLOWED_UPSTREAM_HEADERS);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void withoutAnyKeyTheAnswerIs500AndTheUpstreamIsNeverCalled(String method, String path, String body, String style) {
        for (EngineServer proxy : new EngineServer[] {noKey, clientKeysOnly}) {
            HttpResponse<String> r = send(proxy, method, path, body);

            if (style.equals("seed")) {
                assertJsonError(r, 500);
                assertThat(json(r.body()))
                        .isEqualTo(
                                json(
                                        "{\"error\":\"Configuration Error\",\"message\":\"OpenAI API key is not configured\"}"));
            } else {
                assertThat(assertOpenAiError(r, 500, "server_error", "api_key_missing")
                                .path("message")
                                .textValue())
                        .isEqualTo("OpenAI API key is not configured");
            }
        }
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void aClientKeyIsRefusedWith403WhenClientKeysAreDisabled(String method, String path, String body, String style) {
        HttpResponse<String> r = send(serverKey, method, path, body, "x-openai-key", CLIENT_KEY);

        String message = style.equals("seed")
                ? assertSeedError(r, 403, "Forbidden")
                : assertOpenAiError(r, 403, "permission_error", "client_key_disabled")
                        .path("message")
                        .textValue();
        assertThat(message).contains("x-openai-key").contains("disabled");
        assertNoSecrets(r, CLIENT_KEY, SERVER_KEY);
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("routeKinds")
    void anEnabledClientKeyIsUsedInsteadOfTheServerKeyAndNotForwarded(
            String method, String path, String body, String style) {
        for (EngineServer proxy : new EngineServer[] {clientKeys, clientKeysOnly}) {
            upstream.resetRequests();
            HttpResponse<String> r = send(
                    proxy,
                    method,
                    path,
                    body,
                    "x-openai-key",
                    CLIENT_KEY,
                    "Authorization",
                    "Bearer " + SDK_PLACEHOLDER_KEY);

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            LoggedRequest sent = Upstream.onlyRequest(upstream);
            assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + CLIENT_KEY);
            assertThat(sent.containsHeader("x-openai-key")).isFalse();
            assertThat(Upstream.headerNames(sent)).isSubsetOf(ALLOWED_UPSTREAM_HEADERS);
            assertNoSecrets(r, CLIENT_KEY, SERVER_KEY, SDK_PLACEHOLDER_KEY);
        }
    }

    @ParameterizedTest(name = "x-openai-key: [{0}]")
    @ValueSource(strings = {"", " ", "\t"})
    void anEmptyClientKeyCountsAsAbsent(String empty) {
        // Client keys disabled: no 403, the server key is used.
        HttpResponse<String> disabled = send(serverKey, "GET", "/v1/models", null, "x-openai-key", empty);
        assertThat(disabled.statusCode()).as(disabled.body()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);

        // Client keys enabled: the server key is used.
        upstream.resetRequests();
        HttpResponse<String> enabled = send(clientKeys, "GET", "/v1/models", null, "x-openai-key", empty);
        assertThat(enabled.statusCode()).as(enabled.body()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(upstream).getHeader("Authorization")).isEqualTo("Bearer " + SERVER_KEY);

        // Client keys enabled and no server key: no key at all.
        upstream.resetRequests();
        HttpResponse<String> none = send(clientKeysOnly, "POST", "/", "{\"prompt\":\"a cat\"}", "x-openai-key", empty);
        assertThat(assertSeedError(none, 500, "Configuration Error")).isEqualTo("OpenAI API key is not configured");
        upstream.verify(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void keysNeverAppearInAnyResponseHeaderOrBody() throws Exception {
        // An upstream that reflects the key it was sent back at the client, in headers and body.
        upstream.stubFor(
                any(anyUrl())
                        .willReturn(
                                aResponse()
                                        .withStatus(401)
                                        .withTransformers("response-template")
                                        .withHeader("Content-Type", "application/json")
                                        .withHeader("x-request-id", "req_reflect")
                                        .withHeader("x-echo-authorization", "{{request.headers.Authorization}}")
                                        .withHeader("www-authenticate", "{{request.headers.Authorization}}")
                                        .withHeader("set-cookie", "k={{request.headers.Authorization}}")
                                        .withBody(
                                                "{\"error\":{\"message\":\"Incorrect API key provided: {{request.headers.Authorization}}"
                                                        + " (key {{regexExtract request.headers.Authorization '[^ ]+$'}})\","
                                                        + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}")));
        HttpResponse<String> direct = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(upstream.url("/v1/models")))
                                .header("Authorization", "Bearer " + CLIENT_KEY)
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(direct.body()).as("the fixture reflects the key").contains(CLIENT_KEY);
        upstream.resetRequests();

        List<HttpResponse<String>> answers = new ArrayList<>();
        for (Arguments a : routeKinds().toList()) {
            Object[] args = a.get();
            String method = (String) args[0];
            String path = (String) args[1];
            String body = (String) args[2];
            answers.add(send(serverKey, method, path, body));
            answers.add(send(clientKeys, method, path, body, "x-openai-key", CLIENT_KEY));
            answers.add(send(serverKey, method, path, body, "x-openai-key", CLIENT_KEY));
            answers.add(send(noKey, method, path, body, "x-openai-key", CLIENT_KEY));
            answers.add(send(noKey, method, path, body));
            answers.add(send(clientKeys, method, path, "{not json", "x-openai-key", CLIENT_KEY));
        }
        for (HttpResponse<String> r : answers) {
            assertThat(r.statusCode()).as(r.body()).isBetween(400, 599);
            assertNoSecrets(r, CLIENT_KEY, SERVER_KEY, SDK_PLACEHOLDER_KEY);
        }
        assertThat(answers).extracting(HttpResponse::statusCode).contains(401, 403, 500);
    }
}
