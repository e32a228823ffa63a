package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A model retrieve over real HTTP on Tomcat goes to the upstream that serves the model (alias, exact name, glob, else
 * the default upstream), with that upstream's key, the id sent as the Node SDK does (raw slash) or as openai-java does
 * ({@code %2F}).
 */
class ModelRetrieveRoutingHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String VLLM_KEY = "sk-vllm-http-0123456789abcdefghijklmnop";
    private static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

    @RegisterExtension
    static WireMockExtension openai = Upstream.extension();

    @RegisterExtension
    static WireMockExtension vllm = Upstream.extension();

    static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", Upstream.SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("pass-through-routes", "GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id}");
        s.put("upstreams.vllm.kind", "compatible");
        s.put("upstreams.vllm.base-url", vllm.baseUrl() + "/v1");
        s.put("upstreams.vllm.keys", VLLM_KEY);
        s.put("upstreams.vllm.models", "meta-llama/*, qwen2.5");
        s.put("upstreams.vllm.aliases", "fast=" + LLAMA);
        proxy = TomcatProxy.servletAllowingEncodedSlashes(ProxySettings.from(s).toConfig());
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    private static void stubBoth() {
        openai.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"gpt-4o-mini\",\"object\":\"model\"}")));
        vllm.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"" + LLAMA + "\",\"object\":\"model\"}")));
    }

    private static void assertOnlyVllm(String url) {
        LoggedRequest sent = Upstream.onlyRequest(vllm);
        assertThat(sent.getUrl()).isEqualTo(url);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + VLLM_KEY);
        assertThat(Upstream.headerNames(sent)).doesNotContain("x-openai-key");
        Upstream.assertNoCalls(openai);
    }

    @Test
    void aGlobMatchedIdGoesToItsUpstreamRawOrEncoded() throws Exception {
        stubBoth();

        HttpResponse<String> raw = Http.get(proxy.uri("/v1/models/" + LLAMA));

        assertThat(raw.statusCode()).as(raw.body()).isEqualTo(200);
        assertThat(raw.headers().firstValue("OpenAI-Proxy-Upstream")).contains("vllm");
        assertThat(JSON.readTree(raw.body()).path("id").asText()).isEqualTo(LLAMA);
        assertOnlyVllm("/v1/models/" + LLAMA);
        vllm.resetRequests();

        HttpResponse<String> encoded = Http.get(proxy.uri("/v1/models/meta-llama%2FLlama-3.1-8B-Instruct"));

        assertThat(encoded.statusCode()).as(encoded.body()).isEqualTo(200);
        assertOnlyVllm("/v1/models/" + LLAMA);
    }

    @Test
    void anExactNameGoesToItsUpstream() {
        stubBoth();

        HttpResponse<String> r = Http.get(proxy.uri("/v1/models/qwen2.5"), "Authorization", "Bearer client-secret");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertOnlyVllm("/v1/models/qwen2.5");
    }

    @Test
    void anAliasGoesUnderTheUpstreamsNameAndComesBackUnderTheClients() throws Exception {
        stubBoth();

        HttpResponse<String> r = Http.get(proxy.uri("/v1/models/fast"));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).path("id").asText()).isEqualTo("fast");
        assertOnlyVllm("/v1/models/" + LLAMA);
    }

    @Test
    void anIdNoUpstreamServesGoesToTheDefaultUpstream() {
        stubBoth();

        HttpResponse<String> r = Http.get(proxy.uri("/v1/models/gpt-4o-mini"));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body() + r.headers().map()).doesNotContain("vllm").doesNotContain(VLLM_KEY);
        LoggedRequest sent = Upstream.onlyRequest(openai);
        assertThat(sent.getUrl()).isEqualTo("/v1/models/gpt-4o-mini");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + Upstream.SERVER_KEY);
        Upstream.assertNoCalls(vllm);
    }

    @Test
    void aDeleteAddedToTheRoutesIsRoutedTheSameWay() {
        stubBoth();

        HttpResponse<String> r = Http.call("DELETE", proxy.uri("/v1/models/meta-llama%2Fft-1"), null);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(vllm).getMethod().getName()).isEqualTo("DELETE");
        assertOnlyVllm("/v1/models/meta-llama/ft-1");
    }

    @Test
    void hostileIdsReachNoUpstream() {
        stubBoth();
        for (String path : List.of(
                "/v1/models/meta-llama/%2E%2E",
                "/v1/models/meta-llama%2F..%2F..%2Fv1%2Ffiles",
                "/v1/models/meta-llama//x",
                "/v1/models/meta-llama/" + "a".repeat(2048))) {
            HttpResponse<String> r = Http.get(proxy.uri(path));
            assertThat(r.statusCode()).as(path).isEqualTo(404);
            assertThat(r.body()).doesNotContain(VLLM_KEY).doesNotContain(Upstream.SERVER_KEY);
        }
        // 10 KB: Tomcat's own header limit answers before the proxy; either way nothing goes upstream.
        HttpResponse<String> huge = Http.get(proxy.uri("/v1/models/meta-llama/" + "a".repeat(10 * 1024)));
        assertThat(huge.statusCode()).isBetween(400, 499);
        Upstream.assertNoCalls(vllm);
        Upstream.assertNoCalls(openai);
    }

    /**
     * Encodings a hostile client might use to lead the upstream out of {@code /v1/models/} or to smuggle a query,
     * fragment or path parameter: each is refused by the container or the proxy, and no upstream is called.
     */
    @Test
    void encodedEscapesAndSmuggledDelimitersReachNoUpstream() {
        stubBoth();
        for (String path : List.of(
                "/v1/models/meta-llama/%2e%2e",
                "/v1/models/meta-llama%2f%2e%2e%2f%2e%2e%2fv1%2ffiles",
                "/v1/models/meta-llama/x%5C..%5C..%5Cfiles",
                "/v1/models/meta-llama/x%00",
                "/v1/models/meta-llama/x%3B.evil",
                "/v1/models/meta-llama/x;a=..%2F..%2Fv1",
                "/v1/models/meta-llama/x%3Fkey=1",
                "/v1/models/meta-llama/x%23frag",
                "/v1/models/meta-llama%252F..%252F..%252Fv1%252Ffiles",
                "/v1/models/meta-llama/x%25",
                "/v1/models/meta-llama/%C0%AE%C0%AE",
                "/v1/models/meta-llama/%EF%BC%8E%EF%BC%8E")) {
            HttpResponse<String> r = Http.get(proxy.uri(path));
            assertThat(r.statusCode()).as(path).isBetween(400, 499);
            assertThat(r.body()).as(path).doesNotContain(VLLM_KEY).doesNotContain(Upstream.SERVER_KEY);
        }
        Upstream.assertNoCalls(vllm);
        Upstream.assertNoCalls(openai);
    }
}
