package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A policy's {@code models} rule judges the model a {@code /v1/models/{id}} path names ({@code GET}, and a
 * {@code DELETE} added to the routes), as it judges a body's {@code model}: an id it does not allow is 403
 * {@code model_not_allowed} and reaches no upstream, whether the model exists or not. The list names no model and
 * stays open; when the proxy builds it from named upstreams it lists only what the rule allows. Driven in process,
 * the engine's real client calling two WireMock servers.
 */
class ProxyEnginePolicyModelPathTest {
    private static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

    @RegisterExtension
    static WireMockExtension openai = Upstream.extension();

    @RegisterExtension
    static WireMockExtension vllm = Upstream.extension();

    private final List<ProxyEngine> engines = new ArrayList<>();
    private final Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();

    @AfterEach
    void close() {
        engines.forEach(ProxyEngine::close);
    }

    /** Anonymous callers may use {@code gpt-4o-mini} and {@code meta-llama/*} only. */
    private ProxyEngine engine(Map<String, String> extra) {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", Upstream.SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("pass-through-routes", "GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id}");
        s.put("upstreams.vllm.kind", "compatible");
        s.put("upstreams.vllm.base-url", vllm.baseUrl() + "/v1");
        s.put("upstreams.vllm.keys", "sk-vllm-0123456789abcdefghijklmnopqrst");
        s.put("upstreams.vllm.models", "meta-llama/*, qwen2.5, " + LLAMA);
        s.put("upstreams.vllm.aliases", "fast=" + LLAMA);
        s.put("policies.anonymous.models", "gpt-4o-mini, meta-llama/*");
        s.putAll(extra);
        s.values().removeIf(String::isEmpty); // "" takes a setting out
        ProxyEngine e = ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .usageLedger(ledger::add)
                .build();
        engines.add(e);
        openai.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"gpt-4o-mini\",\"object\":\"model\"}")));
        vllm.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"" + LLAMA + "\",\"object\":\"model\"}")));
        return e;
    }

    private static Answer send(ProxyEngine engine, String method, String path) {
        return EngineFixture.send(engine, ProxyRequest.builder(method, path));
    }

    private static void assertNoUpstreamCall() {
        Upstream.assertNoCalls(openai);
        Upstream.assertNoCalls(vllm);
    }

    private static JsonNode refused(Answer a) {
        JsonNode error = a.proxyError(403).path("error");
        assertThat(error.path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(error.path("type").asText()).isEqualTo("permission_error");
        assertThat(error.path("param").asText()).isEqualTo("model");
        return error;
    }

    @Test
    void anAllowedExactIdIsRetrievedFromItsUpstream() {
        ProxyEngine engine = engine(Map.of());

        Answer a = send(engine, "GET", "/v1/models/gpt-4o-mini");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        assertThat(Upstream.onlyRequest(openai).getUrl()).isEqualTo("/v1/models/gpt-4o-mini");
        Upstream.assertNoCalls(vllm);
    }

    @Test
    void anIdAllowedByAGlobIsRetrievedWithARawOrAnEncodedSlash() {
        ProxyEngine engine = engine(Map.of());

        Answer raw = send(engine, "GET", "/v1/models/meta-llama/Llama-3.1-8B-Instruct");
        Answer encoded = send(engine, "GET", "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct");

        assertThat(raw.status()).as(raw.text()).isEqualTo(200);
        assertThat(encoded.status()).as(encoded.text()).isEqualTo(200);
        assertThat(Upstream.requests(vllm))
                .extracting(LoggedRequest::getUrl)
                .containsExactly("/v1/models/" + LLAMA, "/v1/models/" + LLAMA);
        Upstream.assertNoCalls(openai);
    }

    @Test
    void anIdThePolicyDoesNotAllowIs403WithNoUpstreamCallWhetherItExistsOrNot() {
        ProxyEngine engine = engine(Map.of());

        // gpt-4o exists at OpenAI, qwen2.5 is served by a named upstream (and listed), the last exists nowhere:
        // the answers are the same, so a forbidden id tells nothing about what exists.
        JsonNode known = refused(send(engine, "GET", "/v1/models/gpt-4o"));
        JsonNode served = refused(send(engine, "GET", "/v1/models/qwen2.5"));
        JsonNode unknown = refused(send(engine, "GET", "/v1/models/no-such%2Fmodel-at-all"));
        // An alias is judged by the client's name, as in a body: "fast" is no meta-llama/* name.
        refused(send(engine, "GET", "/v1/models/fast"));
        assertThat(send(engine, "HEAD", "/v1/models/gpt-4o").status()).isEqualTo(403);

        assertThat(served).isEqualTo(known);
        assertThat(unknown).isEqualTo(known);
        assertThat(known.path("message").asText())
                .isEqualTo("This caller may not use the requested model")
                .doesNotContain("gpt-4o");
        assertNoUpstreamCall();
    }

    @Test
    void aRefusalIsTheSameAsABodysModel() {
        ProxyEngine engine = engine(Map.of("pass-through-routes", "POST /v1/chat/completions, GET /v1/models/{id}"));

        JsonNode path = refused(send(engine, "GET", "/v1/models/gpt-4o"));
        JsonNode body = refused(EngineFixture.send(
                engine, EngineFixture.post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[]}")));

        assertThat(path).isEqualTo(body);
        assertNoUpstreamCall();
    }

    @Test
    void aDeleteAddedToTheRoutesIsJudgedByTheIdInItsPath() {
        ProxyEngine engine = engine(Map.of());

        refused(send(engine, "DELETE", "/v1/models/ft:gpt-4o-mini:acme::abc123"));
        refused(send(engine, "DELETE", "/v1/models/ft:gpt-4o-mini:acme%3A%3Aabc123"));
        assertNoUpstreamCall();

        vllm.stubFor(any(anyUrl()).willReturn(okJson("{\"id\":\"meta-llama/ft-1\",\"deleted\":true}")));
        Answer allowed = send(engine, "DELETE", "/v1/models/meta-llama%2Fft-1");

        assertThat(allowed.status()).as(allowed.text()).isEqualTo(200);
        LoggedRequest sent = Upstream.onlyRequest(vllm);
        assertThat(sent.getMethod().getName()).isEqualTo("DELETE");
        assertThat(sent.getUrl()).isEqualTo("/v1/models/meta-llama/ft-1");
        Upstream.assertNoCalls(openai);
    }

    @Test
    void theListStaysOpenAndListsOnlyTheModelsThePolicyAllows() {
        ProxyEngine engine = engine(Map.of());

        Answer a = send(engine, "GET", "/v1/models");

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        List<String> ids = new ArrayList<>();
        a.json().path("data").forEach(m -> ids.add(m.path("id").asText()));
        // Listed by the vllm upstream: fast (an alias), qwen2.5 and the llama model; the rule allows the last.
        assertThat(ids).containsExactly(LLAMA);
        assertNoUpstreamCall();
    }

    @Test
    void anUnrestrictedPolicyListsEveryModel() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.models", ""));

        Answer a = send(engine, "GET", "/v1/models");

        List<String> ids = new ArrayList<>();
        a.json().path("data").forEach(m -> ids.add(m.path("id").asText()));
        assertThat(ids).containsExactlyInAnyOrder("fast", "qwen2.5", LLAMA);
    }

    @Test
    void theListFromTheDefaultUpstreamStaysOpenForARestrictedPolicy() {
        Map<String, String> s = new HashMap<>();
        s.put("api-key", Upstream.SERVER_KEY);
        s.put("base-url", openai.baseUrl());
        s.put("policies.anonymous.models", "gpt-4o-mini");
        ProxyEngine engine = ProxyEngine.create(ProxySettings.from(s).toConfig());
        engines.add(engine);
        openai.stubFor(any(anyUrl())
                .willReturn(okJson("{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\"}]}")));

        Answer list = send(engine, "GET", "/v1/models");
        Answer forbidden = send(engine, "GET", "/v1/models/gpt-4o");

        assertThat(list.status()).as(list.text()).isEqualTo(200);
        refused(forbidden);
        assertThat(Upstream.onlyRequest(openai).getUrl()).isEqualTo("/v1/models");
    }

    @Test
    void aRoutesRuleCanKeepACallerFromTheListButNotFromTheModelsItMayRetrieve() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.routes", "chat, /v1/models/{id}"));

        Answer list = send(engine, "GET", "/v1/models");
        Answer retrieve = send(engine, "GET", "/v1/models/gpt-4o-mini");

        assertThat(list.proxyError(403).path("error").path("code").asText()).isEqualTo("route_not_allowed");
        assertThat(retrieve.status()).as(retrieve.text()).isEqualTo(200);
        refused(send(engine, "GET", "/v1/models/gpt-4o"));
        assertThat(Upstream.onlyRequest(openai).getUrl()).isEqualTo("/v1/models/gpt-4o-mini");
    }

    @Test
    void aRetrieveRecordsItsModelAndIsChargedNoTokensOrMoney() {
        // A token limit too small for any chat, a money budget that refuses unpriced models: neither applies to a
        // retrieve, which generates nothing.
        ProxyEngine engine = engine(Map.of(
                "policies.anonymous.tokens-per-minute", "1",
                "policies.anonymous.cost-per-day", "0.01",
                "policies.anonymous.unpriced", "refuse"));

        for (int i = 0; i < 3; i++) {
            Answer a = send(engine, "GET", "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct");
            assertThat(a.status()).as(a.text()).isEqualTo(200);
        }

        await().atMost(Duration.ofSeconds(10)).until(() -> ledger.size() == 3);
        assertThat(ledger).allSatisfy(r -> {
            assertThat(r.requestedModel()).isEqualTo(LLAMA);
            assertThat(r.usage().inputTokens() + r.usage().outputTokens()).isZero();
            assertThat(r.costNanoUsd()).isZero();
        });
    }

    @Test
    void aRetrieveUnderAnUnrestrictedPolicyRecordsItsModelToo() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.models", ""));

        assertThat(send(engine, "GET", "/v1/models/gpt-4o").status()).isEqualTo(200);

        await().atMost(Duration.ofSeconds(10)).until(() -> ledger.size() == 1);
        assertThat(ledger.peek().requestedModel()).isEqualTo("gpt-4o");
    }

    @Test
    void aPostAddedToTheModelRouteHasItsBodysModelJudgedToo() {
        // A route other than GET/HEAD/DELETE on /v1/models/{id} is routed by its body's model: that model is the
        // one the upstream serves, so the rule judges it as well as the path's id.
        ProxyEngine engine =
                engine(Map.of("pass-through-routes", "GET /v1/models, GET /v1/models/{id}, POST /v1/models/{id}"));

        Answer a = EngineFixture.send(
                engine,
                ProxyRequest.builder("POST", "/v1/models/gpt-4o-mini")
                        .header("Content-Type", "application/json")
                        .body("{\"model\":\"qwen2.5\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8)));

        refused(a);
        assertNoUpstreamCall();
    }

    @Test
    void aPostAddedToTheModelRouteDoesNotRecordThePathsIdUnderAnUnrestrictedPolicy() {
        // Routed by its body's model, not the path's id: the ledger must not name the id. The default upstream gets
        // the body unread by any rule, so no model is recorded, as on any route added to pass-through-routes.
        ProxyEngine engine = engine(Map.of(
                "policies.anonymous.models", "",
                "pass-through-routes", "GET /v1/models, GET /v1/models/{id}, POST /v1/models/{id}"));

        Answer a = EngineFixture.send(engine, EngineFixture.post("/v1/models/gpt-4o-mini", "{\"model\":\"gpt-4o\"}"));

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger.size() == 1);
        assertThat(ledger.peek().requestedModel()).isNull();
    }
}
