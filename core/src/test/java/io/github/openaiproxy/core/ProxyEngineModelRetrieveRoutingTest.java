package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.serviceUnavailable;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.Upstream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code GET /v1/models/{id}} (and a configured {@code DELETE}) goes to the upstream that serves the model, chosen as a
 * body's {@code model} is: alias, exact name, glob, else the default upstream; with that upstream's key. Driven in
 * process, with the engine's real upstream client calling two WireMock servers.
 */
class ProxyEngineModelRetrieveRoutingTest {
    private static final String VLLM_KEY = "sk-vllm-0123456789abcdefghijklmnopqrst";
    private static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

    @RegisterExtension
    static WireMockExtension openai = Upstream.extension();

    @RegisterExtension
    static WireMockExtension vllm = Upstream.extension();

    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private ProxyEngine engine(Map<String, String> extra) {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", Upstream.SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("pass-through-routes", "GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id}");
        s.put("upstreams.vllm.kind", "compatible");
        s.put("upstreams.vllm.base-url", vllm.baseUrl() + "/v1");
        s.put("upstreams.vllm.keys", VLLM_KEY);
        s.put("upstreams.vllm.models", "meta-llama/*, qwen2.5");
        s.put("upstreams.vllm.aliases", "fast=" + LLAMA);
        s.putAll(extra);
        engine = ProxyEngine.create(ProxySettings.from(s).toConfig());
        openai.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"gpt-4o-mini\",\"object\":\"model\"}")));
        return engine;
    }

    private Answer get(String path) {
        return EngineFixture.send(engine == null ? engine(Map.of()) : engine, EngineFixture.get(path));
    }

    private static void stubModel(String id) {
        vllm.stubFor(
                any(anyUrl()).willReturn(okJson("{\"id\":\"" + id + "\",\"object\":\"model\",\"owned_by\":\"vllm\"}")));
    }

    private static LoggedRequest onlyVllmCall(String url) {
        LoggedRequest sent = Upstream.onlyRequest(vllm);
        assertThat(sent.getUrl()).isEqualTo(url);
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + VLLM_KEY);
        Upstream.assertNoCalls(openai);
        return sent;
    }

    @Test
    void aGlobMatchedIdWithARawSlashGoesToItsUpstreamWithItsKey() {
        stubModel(LLAMA);

        Answer a = get("/v1/models/" + LLAMA);

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.json().path("id").asText()).isEqualTo(LLAMA);
        assertThat(a.header("OpenAI-Proxy-Upstream")).isEqualTo("vllm");
        onlyVllmCall("/v1/models/" + LLAMA);
    }

    @Test
    void aGlobMatchedIdWithAnEncodedSlashGoesOnWithARawOne() {
        stubModel(LLAMA);

        Answer a = get("/v1/models/meta-llama%2FLlama-3.1-8B-Instruct");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        onlyVllmCall("/v1/models/" + LLAMA);
    }

    @Test
    void anExactNameGoesToItsUpstream() {
        stubModel("qwen2.5");

        Answer a = get("/v1/models/qwen2.5");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.json().path("id").asText()).isEqualTo("qwen2.5");
        onlyVllmCall("/v1/models/qwen2.5");
    }

    @Test
    void anAliasIsAskedForByTheUpstreamsNameAndAnsweredUnderTheClients() {
        stubModel(LLAMA);

        Answer a = get("/v1/models/fast");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.json().path("id").asText()).isEqualTo("fast"); // as GET /v1/models lists it
        assertThat(a.json().path("owned_by").asText()).isEqualTo("vllm");
        onlyVllmCall("/v1/models/" + LLAMA);
    }

    @Test
    void anIdNoUpstreamServesGoesToTheDefaultUpstreamWithTheServerKey() {
        Answer a = get("/v1/models/gpt-4o-mini");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.header("OpenAI-Proxy-Upstream")).isEqualTo("openai");
        LoggedRequest sent = Upstream.onlyRequest(openai);
        assertThat(sent.getUrl()).isEqualTo("/v1/models/gpt-4o-mini");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + Upstream.SERVER_KEY);
        Upstream.assertNoCalls(vllm);
    }

    @Test
    void aConfiguredDeleteIsRoutedTheSameWay() {
        vllm.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"meta-llama/ft-1\",\"deleted\":true}")));

        Answer a = EngineFixture.send(engine(Map.of()), ProxyRequest.builder("DELETE", "/v1/models/meta-llama%2Fft-1"));

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(onlyVllmCall("/v1/models/meta-llama/ft-1").getMethod().getName())
                .isEqualTo("DELETE");
    }

    @Test
    void hostileIdsAreAnsweredAsBeforeAndReachNoNamedUpstream() {
        stubModel(LLAMA);
        for (String path : List.of(
                "/v1/models/meta-llama/..",
                "/v1/models/meta-llama/../../v1/files",
                "/v1/models/meta-llama%2F..%2F..%2Fv1%2Ffiles",
                "/v1/models/meta-llama%2F%2E%2E",
                "/v1/models/meta-llama//x",
                "/v1/models/meta-llama/" + "a".repeat(10 * 1024))) {
            Answer a = get(path);
            assertThat(a.status()).as(path).isEqualTo(404);
            assertThat(a.text()).doesNotContain(VLLM_KEY).doesNotContain(Upstream.SERVER_KEY);
        }
        Upstream.assertNoCalls(vllm);
        Upstream.assertNoCalls(openai);
    }

    @Test
    void anAliasWhoseUpstreamNameIsNoModelIdNeverBecomesAPath() {
        engine(Map.of("upstreams.vllm.aliases", "evil=../../v1/files"));

        Answer a = get("/v1/models/evil");

        assertThat(a.status()).as(a.text()).isEqualTo(404);
        assertThat(a.text()).doesNotContain("files");
        Upstream.assertNoCalls(vllm);
        Upstream.assertNoCalls(openai);
    }

    @Test
    void anUnservedIdTellsNothingOfTheNamedUpstream() {
        Answer a = get("/v1/models/llama-other");

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.text() + a.headers().map()).doesNotContain("vllm").doesNotContain(VLLM_KEY);
        Upstream.assertNoCalls(vllm);
    }

    @Test
    void aFailingRetrieveIsRetriedOnItsUpstream() {
        engine(Map.of());
        vllm.stubFor(any(anyUrl())
                .inScenario("flaky")
                .whenScenarioStateIs(Scenario.STARTED)
                .willReturn(serviceUnavailable())
                .willSetStateTo("up"));
        vllm.stubFor(any(anyUrl())
                .inScenario("flaky")
                .whenScenarioStateIs("up")
                .willReturn(okJson("{\"id\":\"qwen2.5\",\"object\":\"model\"}")));

        Answer a = get("/v1/models/qwen2.5");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.header("OpenAI-Proxy-Attempts")).isEqualTo("vllm 503, vllm 200");
        assertThat(Upstream.requests(vllm)).hasSize(2);
        Upstream.assertNoCalls(openai);
    }

    @Test
    void aFallbackKeepingTheModelIsTakenAndOneAskingForAnotherModelIsNot() {
        engine(Map.of(
                "upstreams.vllm.retries", "0",
                "upstreams.vllm.fallback", "openai:gpt-4o-mini, openai"));
        vllm.stubFor(any(anyUrl()).willReturn(serviceUnavailable()));

        Answer a = get("/v1/models/qwen2.5");

        // A retrieve of qwen2.5 answered with gpt-4o-mini would be another model's card: only "openai" is asked.
        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.header("OpenAI-Proxy-Attempts")).isEqualTo("vllm 503, openai 200");
        LoggedRequest sent = Upstream.onlyRequest(openai);
        assertThat(sent.getUrl()).isEqualTo("/v1/models/qwen2.5");
        assertThat(sent.getHeader("Authorization")).isEqualTo("Bearer " + Upstream.SERVER_KEY);
    }

    @Test
    void aContextWindowErrorToARetrieveTakesNoContextFallbackToAnotherModel() {
        engine(Map.of("upstreams.vllm.context-fallback", "openai:gpt-4o-mini"));
        // An upstream (a broken or hostile one) that answers a retrieve with OpenAI's context-window error.
        vllm.stubFor(any(anyUrl())
                .willReturn(com.github.tomakehurst.wiremock.client.WireMock.badRequest()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"too long\",\"type\":\"invalid_request_error\","
                                + "\"code\":\"context_length_exceeded\"}}")));

        Answer a = get("/v1/models/qwen2.5");

        // A retrieve has no context to outgrow: gpt-4o-mini's card would answer a question about qwen2.5.
        assertThat(a.status()).as(a.text()).isEqualTo(400);
        assertThat(a.json().path("error").path("code").asText()).isEqualTo("context_length_exceeded");
        assertThat(a.header("OpenAI-Proxy-Attempts")).isEqualTo("vllm 400");
        Upstream.assertNoCalls(openai);
    }

    @Test
    void onAzuresDeploymentsAListedNameIsAnsweredFromTheListAndAGlobMatchedIdFromItsModelsApi() {
        engine(Map.of(
                "upstreams.vllm.kind", "azure",
                "upstreams.vllm.base-url", vllm.baseUrl(),
                "upstreams.vllm.api-version", "2024-10-21",
                "upstreams.vllm.models", "gpt-4o*",
                "upstreams.vllm.aliases", "fast=prod-gpt4o"));
        stubModel("gpt-4o-2024-08-06");

        Answer listed = get("/v1/models/fast"); // a deployment's alias: Azure's models API knows no such model
        Answer globbed = get("/v1/models/gpt-4o-2024-08-06");

        assertThat(listed.status()).as(listed.text()).isEqualTo(200);
        assertThat(listed.json().path("id").asText()).isEqualTo("fast");
        assertThat(listed.json().path("owned_by").asText()).isEqualTo("vllm");
        assertThat(globbed.status()).as(globbed.text()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(vllm);
        assertThat(sent.getUrl()).isEqualTo("/openai/models/gpt-4o-2024-08-06?api-version=2024-10-21");
        assertThat(sent.getHeader("api-key")).isEqualTo(VLLM_KEY);
        assertThat(sent.containsHeader("Authorization")).isFalse();
        Upstream.assertNoCalls(openai);
    }

    @Test
    void onAzuresV1ApiAnAliasIsAskedForByItsDeploymentName() {
        engine(Map.of(
                "upstreams.vllm.kind", "azure",
                "upstreams.vllm.azure-api", "v1",
                "upstreams.vllm.base-url", vllm.baseUrl(),
                "upstreams.vllm.models", "gpt-4o*",
                "upstreams.vllm.aliases", "fast=prod-gpt4o"));
        stubModel("prod-gpt4o");

        Answer a = get("/v1/models/fast");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(a.json().path("id").asText()).isEqualTo("fast");
        LoggedRequest sent = Upstream.onlyRequest(vllm);
        assertThat(sent.getUrl()).isEqualTo("/openai/v1/models/prod-gpt4o");
        assertThat(sent.getHeader("api-key")).isEqualTo(VLLM_KEY);
    }
}
