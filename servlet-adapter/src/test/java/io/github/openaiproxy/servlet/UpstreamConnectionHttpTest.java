package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * How a named upstream is called, over real HTTP, with the exact path, query and headers that reach it: extra
 * headers, OpenAI's organization and project, a compatible server's auth styles, Azure's {@code /openai/v1/}
 * form, and an upstream's own timeout to the response headers, which is retried like any failure before the
 * first byte (on both upstream clients).
 *
 * <p>Azure's v1 form: {@code POST {endpoint}/openai/v1/chat/completions} with the deployment in the body's
 * {@code model} and the {@code api-key} header, no {@code api-version} query (Azure OpenAI's v1 API, the
 * successor of the dated data-plane versions such as
 * {@code specification/cognitiveservices/data-plane/AzureOpenAI/inference/stable/2024-10-21/inference.json}).
 */
class UpstreamConnectionHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String KEY = "sk-named-0123456789abcdefghijklmnop";

    @RegisterExtension
    static WireMockExtension first = Upstream.extension();

    @RegisterExtension
    static WireMockExtension second = Upstream.extension();

    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void start(String... pairs) {
        Map<String, String> s = new HashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            s.put(pairs[i], pairs[i + 1]);
        }
        proxy = TomcatProxy.servlet(ProxySettings.from(s).toConfig());
    }

    private HttpResponse<String> chat(String model) {
        return Http.postJson(
                proxy.uri("/v1/chat/completions?x=1"),
                "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "Authorization",
                "Bearer client-credential");
    }

    @Test
    void anOpenAiUpstreamGetsItsOrganizationProjectAndExtraHeadersBesideItsBearerKey() {
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson("{\"choices\":[]}")));
        start(
                "upstreams.oa.base-url", first.baseUrl(),
                "upstreams.oa.keys", KEY,
                "upstreams.oa.models", "gpt-4o",
                "upstreams.oa.organization", "org-abc",
                "upstreams.oa.project", "proj_xyz",
                "upstreams.oa.headers", "X-Team=search, User-Agent=search-gateway/1");

        HttpResponse<String> r = chat("gpt-4o");

        assertThat(r.statusCode()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(first);
        assertThat(sent.getUrl()).isEqualTo("/v1/chat/completions?x=1");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + KEY);
        assertThat(sent.getHeader("OpenAI-Organization")).isEqualTo("org-abc");
        assertThat(sent.getHeader("OpenAI-Project")).isEqualTo("proj_xyz");
        assertThat(sent.getHeader("X-Team")).isEqualTo("search");
        assertThat(sent.getHeader("User-Agent")).isEqualTo("search-gateway/1");
        assertThat(r.headers().map().toString()).doesNotContain("org-abc").doesNotContain("search");
    }

    @Test
    void aCompatibleServerGetsItsKeyInTheHeaderItsAuthNames() {
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson("{\"choices\":[]}")));
        start(
                "upstreams.local.kind", "compatible",
                "upstreams.local.base-url", first.baseUrl() + "/v1",
                "upstreams.local.keys", KEY,
                "upstreams.local.auth", "header:X-Api-Key",
                "upstreams.local.models", "llama*");

        assertThat(chat("llama3").statusCode()).isEqualTo(200);

        LoggedRequest sent = Upstream.onlyRequest(first);
        assertThat(sent.getHeader("X-Api-Key")).isEqualTo(KEY);
        assertThat(Upstream.headerNames(sent)).doesNotContain("authorization", "api-key");
    }

    @Test
    void aCompatibleServerWithAuthNoneGetsNoCredentialAtAll() {
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson("{\"choices\":[]}")));
        start(
                "upstreams.local.kind", "compatible",
                "upstreams.local.base-url", first.baseUrl(),
                "upstreams.local.auth", "none",
                "upstreams.local.models", "llama*");

        assertThat(chat("llama3").statusCode()).isEqualTo(200);

        LoggedRequest sent = Upstream.onlyRequest(first);
        assertThat(Upstream.headerNames(sent)).doesNotContain("authorization", "api-key", "x-openai-key");
    }

    @Test
    void azuresV1FormTakesOpenAisPathWithTheDeploymentInTheBodyAndTheApiKeyHeader() throws Exception {
        first.stubFor(post(urlPathEqualTo("/openai/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"prod-gpt4o\",\"choices\":[]}")));
        start(
                "upstreams.azure.kind", "azure",
                "upstreams.azure.azure-api", "v1",
                "upstreams.azure.base-url", first.baseUrl(),
                "upstreams.azure.keys", KEY,
                "upstreams.azure.aliases", "gpt-4o=prod-gpt4o");

        HttpResponse<String> r = chat("gpt-4o");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).path("model").asText()).isEqualTo("gpt-4o");
        LoggedRequest sent = Upstream.onlyRequest(first);
        // The client's query goes on (v1 takes OpenAI's: a list's after and limit); no api-version is configured.
        assertThat(sent.getUrl()).isEqualTo("/openai/v1/chat/completions?x=1");
        assertThat(sent.getHeader("api-key")).isEqualTo(KEY);
        assertThat(Upstream.headerNames(sent)).doesNotContain("authorization");
        assertThat(JSON.readTree(sent.getBodyAsString()).path("model").asText()).isEqualTo("prod-gpt4o");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/openai/v1/", "/openai/v1", "/openai/", "/"})
    void azuresV1FormTakesItsBaseUrlAsAzureDocumentsItWithOrWithoutTheOpenAiV1Path(String path) {
        // Azure's own guide gives the v1 API's base URL as https://<resource>.openai.azure.com/openai/v1/ (what
        // the OpenAI SDKs take): that one, or the bare endpoint, reaches the same path, never /openai/v1 twice.
        first.stubFor(post(urlPathEqualTo("/openai/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"prod-gpt4o\",\"choices\":[]}")));
        start(
                "upstreams.azure.kind", "azure",
                "upstreams.azure.azure-api", "v1",
                "upstreams.azure.base-url", first.baseUrl() + path,
                "upstreams.azure.keys", KEY,
                "upstreams.azure.aliases", "gpt-4o=prod-gpt4o");

        assertThat(chat("gpt-4o").statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(first).getUrl()).isEqualTo("/openai/v1/chat/completions?x=1");
    }

    @Test
    void azuresDeploymentsFormGivenTheV1BaseUrlStillCallsTheDeployment() {
        first.stubFor(post(urlPathEqualTo("/openai/deployments/prod-gpt4o/chat/completions"))
                .willReturn(okJson("{\"model\":\"prod-gpt4o\",\"choices\":[]}")));
        start(
                "upstreams.azure.kind", "azure",
                "upstreams.azure.api-version", "2024-10-21",
                "upstreams.azure.base-url", first.baseUrl() + "/openai/v1/",
                "upstreams.azure.keys", KEY,
                "upstreams.azure.aliases", "gpt-4o=prod-gpt4o");

        assertThat(chat("gpt-4o").statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(first).getUrl())
                .isEqualTo("/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21");
    }

    @Test
    void azuresV1FormGetsTheConfiguredVersionThenTheClientsQueryWithoutAVersionOfItsOwn() {
        first.stubFor(post(urlPathEqualTo("/openai/v1/chat/completions"))
                .willReturn(okJson("{\"model\":\"prod-gpt4o\",\"choices\":[]}")));
        start(
                "upstreams.azure.kind", "azure",
                "upstreams.azure.azure-api", "v1",
                "upstreams.azure.api-version", "preview",
                "upstreams.azure.base-url", first.baseUrl(),
                "upstreams.azure.keys", KEY,
                "upstreams.azure.aliases", "gpt-4o=prod-gpt4o");

        HttpResponse<String> r = Http.postJson(
                proxy.uri("/v1/chat/completions?api-version=2024-01-01&after=chatcmpl-9&API-Version=x&limit=5"
                        + "&api%2Dversion=y"),
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(first).getUrl())
                .isEqualTo("/openai/v1/chat/completions?api-version=preview&after=chatcmpl-9&limit=5");
    }

    @ParameterizedTest
    @ValueSource(strings = {"jetty", "jdk"})
    void anUpstreamsOwnTimeoutToTheHeadersIsRetriedLikeAnyFailureBeforeTheFirstByte(String client) {
        // The first call hangs past the upstream's timeout (far below response-timeout's 10 minutes); the retry
        // answers at once. The timeout is a second, not less: the retry must answer within it on a loaded machine.
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .inScenario("slow")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(okJson("{\"choices\":[]}").withFixedDelay(5_000))
                .willSetStateTo("fast"));
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .inScenario("slow")
                .whenScenarioStateIs("fast")
                .willReturn(okJson("{\"id\":\"again\",\"choices\":[]}")));
        start(
                "upstream-client",
                client,
                "upstreams.oa.base-url",
                first.baseUrl(),
                "upstreams.oa.keys",
                KEY,
                "upstreams.oa.models",
                "gpt-4o",
                "upstreams.oa.timeout",
                "1s",
                "upstreams.oa.retries",
                "1");

        HttpResponse<String> r = chat("gpt-4o");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("again");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("oa timeout, oa 200");
    }

    @Test
    void aTimeoutWithoutRetriesLeftTakesTheFallback() {
        first.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(okJson("{\"choices\":[]}").withFixedDelay(5_000)));
        second.stubFor(post(urlPathEqualTo("/v1/chat/completions")).willReturn(okJson("{\"id\":\"second\"}")));
        start(
                "upstreams.oa.base-url", first.baseUrl(),
                "upstreams.oa.keys", KEY,
                "upstreams.oa.models", "gpt-4o",
                "upstreams.oa.timeout", "300ms",
                "upstreams.oa.retries", "0",
                "upstreams.oa.fallback", "local",
                "upstreams.local.kind", "compatible",
                "upstreams.local.base-url", second.baseUrl());

        HttpResponse<String> r = chat("gpt-4o");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("second");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("oa timeout, local 200");
    }
}
