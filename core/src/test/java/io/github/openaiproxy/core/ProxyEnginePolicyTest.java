package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.EngineFixture.CHAT;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.send;
import static io.github.openaiproxy.core.testing.Answer.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Policies applied to requests (routes, models, caps), checked at a WireMock upstream: what is refused never
 * reaches it, what is capped reaches it capped, and a policy without body rules leaves pass-through bodies
 * streamed byte for byte. Identities come from the host's user ({@link ProxyRequest#user()}) and the roles
 * mapped to policies, or are anonymous.
 */
class ProxyEnginePolicyTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private final List<ProxyEngine> engines = new ArrayList<>();

    @BeforeEach
    void answerEverything() {
        upstream.server().stubFor(any(anyUrl()).willReturn(okJson(CHAT_COMPLETION)));
    }

    @AfterEach
    void close() {
        engines.forEach(ProxyEngine::close);
    }

    /** An engine whose policies come from settings, as every vocabulary binds them. */
    private ProxyEngine engine(Map<String, String> settings) {
        return engine(settings, null);
    }

    private ProxyEngine engine(Map<String, String> settings, PolicyStore store) {
        ProxyConfig config =
                ProxySettings.from(settings).applyTo(config(upstream.baseUrl())).build();
        ProxyEngine.Builder b = ProxyEngine.builder(config);
        if (store != null) {
            b.policyStore(store);
        }
        ProxyEngine e = b.build();
        engines.add(e);
        return e;
    }

    /** A request by the host's user with these roles. */
    private static ProxyRequest.Builder as(ProxyRequest.Builder request, String user, String... roles) {
        List<String> has = List.of(roles);
        return request.user(new AuthenticatedUser(user, has::contains));
    }

    private static ProxyRequest.Builder postJson(String path, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return ProxyRequest.builder("POST", path)
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(body.length))
                .body(body);
    }

    private static List<LoggedRequest> upstreamRequests() {
        List<LoggedRequest> all = new ArrayList<>();
        upstream.server().getAllServeEvents().forEach(e -> all.add(e.getRequest()));
        Collections.reverse(all);
        return all;
    }

    private static JsonNode onlyUpstreamBody() {
        List<LoggedRequest> all = upstreamRequests();
        assertThat(all).as("requests that reached the upstream").hasSize(1);
        return parse(all.get(0).getBodyAsString());
    }

    private static final Map<String, String> FREE = Map.of(
            "access.role-policies", "staff=staff, member=free",
            "policies.free.models", "gpt-4o-mini, gpt-3.5*",
            "policies.free.max-tokens", "100",
            "policies.free.max-n", "1",
            "policies.free.routes", "chat, images, models");

    @Test
    void aModelThePolicyDoesNotAllowIsRefusedWithNoUpstreamCall() {
        ProxyEngine engine = engine(FREE);

        Answer v1 = send(
                engine,
                as(postJson("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[]}"), "ann", "member"));
        JsonNode error = v1.proxyError(403).path("error");
        assertThat(error.path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(error.path("type").asText()).isEqualTo("permission_error");
        assertThat(error.path("param").asText()).isEqualTo("model");

        Answer simple = send(
                engine,
                as(
                        postJson("/", "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"),
                        "ann",
                        "member"));
        assertThat(simple.proxyError(403).path("error").asText()).isEqualTo("Forbidden");

        // A missing model on /v1 is checked as it is: no rule allows it.
        Answer missing = send(engine, as(postJson("/v1/chat/completions", "{\"messages\":[]}"), "ann", "member"));
        assertThat(missing.proxyError(403).path("error").path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(upstreamRequests()).isEmpty();

        // A glob allows; the simple route's default model (gpt-3.5-turbo) is checked as normalized.
        assertThat(send(engine, as(postJson("/", CHAT), "ann", "member")).status())
                .isEqualTo(200);
        assertThat(upstreamRequests()).hasSize(1);
    }

    @Test
    void maxTokensIsClampedInTheBodyTheUpstreamGets() {
        ProxyEngine engine = engine(FREE);

        Answer simple = send(
                engine,
                as(
                        postJson("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":5000}"),
                        "ann",
                        "member"));
        assertThat(simple.status()).isEqualTo(200);
        assertThat(onlyUpstreamBody().path("max_tokens").asInt()).isEqualTo(100);
        upstream.server().resetRequests();

        // Without max_tokens the simple route's default (1000) is over the cap too.
        send(engine, as(postJson("/", CHAT), "ann", "member"));
        assertThat(onlyUpstreamBody().path("max_tokens").asInt()).isEqualTo(100);
        upstream.server().resetRequests();

        // /v1: each field present is capped; null means no limit, so it is capped as absent.
        send(
                engine,
                as(
                        postJson(
                                "/v1/chat/completions",
                                "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"max_tokens\":101,"
                                        + "\"max_completion_tokens\":99999999999999999999}"),
                        "ann",
                        "member"));
        JsonNode up = onlyUpstreamBody();
        assertThat(up.path("max_tokens").asInt()).isEqualTo(100);
        assertThat(up.path("max_completion_tokens").asInt()).isEqualTo(100);
        assertThat(up.path("messages").isArray()).isTrue();
        upstream.server().resetRequests();

        send(
                engine,
                as(
                        postJson(
                                "/v1/chat/completions",
                                "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"max_completion_tokens\":null}"),
                        "ann",
                        "member"));
        assertThat(onlyUpstreamBody().path("max_completion_tokens").asInt()).isEqualTo(100);
        upstream.server().resetRequests();

        // Absent: the cap as max_completion_tokens, the field OpenAI documents for chat.
        send(
                engine,
                as(postJson("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}"), "a", "member"));
        up = onlyUpstreamBody();
        assertThat(up.path("max_completion_tokens").asInt()).isEqualTo(100);
        assertThat(up.has("max_tokens")).isFalse();
    }

    @Test
    void refuseModeAnswers400InTheRoutesStyle() {
        ProxyEngine engine = engine(Map.of(
                "policies.users.max-tokens", "100",
                "policies.users.max-n", "2",
                "policies.users.over-cap", "refuse"));

        Answer v1 = send(
                engine,
                as(
                        postJson("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[],\"max_tokens\":101}"),
                        "bo"));
        JsonNode error = v1.proxyError(400).path("error");
        assertThat(error.path("code").asText()).isEqualTo("over_cap");
        assertThat(error.path("param").asText()).isEqualTo("max_tokens");

        Answer simple = send(
                engine, as(postJson("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"n\":3}"), "bo"));
        JsonNode seed = simple.proxyError(400);
        assertThat(seed.path("error").asText()).isEqualTo("Over the cap");
        assertThat(seed.path("param").asText()).isEqualTo("n");
        assertThat(upstreamRequests()).isEmpty();

        // At the cap: sent unchanged.
        send(
                engine,
                as(postJson("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":100}"), "bo"));
        assertThat(onlyUpstreamBody().path("max_tokens").asInt()).isEqualTo(100);
    }

    @Test
    void aRouteThePolicyDoesNotListIsRefused() {
        ProxyEngine engine = engine(FREE);

        Answer responses = send(
                engine, as(postJson("/v1/responses", "{\"model\":\"gpt-4o-mini\",\"input\":\"Hi\"}"), "c", "member"));
        assertThat(responses.proxyError(403).path("error").path("code").asText())
                .isEqualTo("route_not_allowed");
        Answer embeddings = send(
                engine, as(postJson("/v1/embeddings", "{\"model\":\"gpt-4o-mini\",\"input\":\"Hi\"}"), "c", "member"));
        assertThat(embeddings.status()).isEqualTo(403);
        Answer sessions = send(engine, as(postJson("/sessions", "{}"), "c", "member"));
        assertThat(sessions.proxyError(403).path("error").asText()).isEqualTo("Forbidden");
        assertThat(upstreamRequests()).isEmpty();

        // GET /v1/models is listed, and has no body for the model rule to judge.
        assertThat(send(engine, as(get("/v1/models"), "c", "member")).status()).isEqualTo(200);
        // Another role's policy (staff: not configured, so unrestricted... it is unknown: fails closed).
        Answer staff = send(engine, as(postJson("/v1/responses", "{\"model\":\"o3\"}"), "d", "staff", "member"));
        assertThat(staff.proxyError(403).path("error").path("code").asText()).isEqualTo("unknown_policy");
        assertThat(upstreamRequests()).hasSize(1);
    }

    @Test
    void theNCapAndTheImageRules() {
        ProxyEngine engine = engine(Map.of(
                "policies.anonymous.max-n", "2",
                "policies.anonymous.image-models", "dall-e-*",
                "policies.anonymous.image-sizes", "256x256, 512x512",
                "policies.anonymous.image-qualities", "standard"));

        send(engine, postJson("/v1/images/generations", "{\"model\":\"dall-e-2\",\"prompt\":\"a cat\",\"n\":9}"));
        JsonNode up = onlyUpstreamBody();
        assertThat(up.path("n").asInt()).isEqualTo(2);
        // Absent size and quality: the rules' first values.
        assertThat(up.path("size").asText()).isEqualTo("256x256");
        assertThat(up.path("quality").asText()).isEqualTo("standard");
        upstream.server().resetRequests();

        Answer size = send(
                engine,
                postJson(
                        "/v1/images/generations",
                        "{\"model\":\"dall-e-2\",\"prompt\":\"a cat\",\"size\":\"1024x1024\"}"));
        assertThat(size.proxyError(400).path("error").path("code").asText()).isEqualTo("size_not_allowed");
        Answer model =
                send(engine, postJson("/v1/images/generations", "{\"model\":\"gpt-image-1\",\"prompt\":\"a cat\"}"));
        assertThat(model.proxyError(403).path("error").path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(upstreamRequests()).isEmpty();

        // The simple image route: its normalized body, the seed's error shape.
        ProxyEngine simple = engine(Map.of("policies.anonymous.image-qualities", "standard"));
        Answer quality = send(
                simple,
                postJson("/images/generations", "{\"model\":\"dall-e-3\",\"prompt\":\"a cat\",\"quality\":\"hd\"}"));
        JsonNode seed = quality.proxyError(400);
        assertThat(seed.path("error").asText()).isEqualTo("Not allowed");
        assertThat(seed.path("param").asText()).isEqualTo("quality");
        assertThat(upstreamRequests()).isEmpty();
        send(simple, postJson("/generate-image", "{\"prompt\":\"a cat\"}"));
        assertThat(onlyUpstreamBody().path("quality").asText()).isEqualTo("standard");
    }

    @Test
    void aPolicyWithoutBodyRulesLeavesPassThroughBodiesStreamedByteForByte() {
        ProxyEngine engine =
                engine(Map.of("policies.anonymous.routes", "chat", "policies.anonymous.requests-per-day", "5"));
        String odd = "{ \"model\" :\"gpt-4o\",\n\t\"messages\":[] , \"max_tokens\": 99999 }  ";

        assertThat(send(engine, postJson("/v1/chat/completions", odd)).status()).isEqualTo(200);
        assertThat(upstreamRequests().get(0).getBodyAsString()).isEqualTo(odd);
        upstream.server().resetRequests();

        // A policy with body rules that changes nothing sends the bytes as read, too.
        ProxyEngine checked = engine(Map.of("policies.anonymous.models", "gpt-4o"));
        assertThat(send(checked, postJson("/v1/chat/completions", odd)).status())
                .isEqualTo(200);
        assertThat(upstreamRequests().get(0).getBodyAsString()).isEqualTo(odd);
    }

    @Test
    void aCheckedPassThroughBodyKeepsTheBodyLimit() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.models", "gpt-4o", "max-body-size", "64"));
        String big =
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(100) + "\"}]}";
        // No Content-Length: the size is only known while reading.
        Answer a = send(
                engine,
                ProxyRequest.builder("POST", "/v1/chat/completions")
                        .header("Content-Type", "application/json")
                        .body(big.getBytes(StandardCharsets.UTF_8)));
        assertThat(a.proxyError(413).path("error").path("code").asText()).isNotBlank();
        Answer notJson = send(engine, postJson("/v1/chat/completions", "{\"model\":"));
        assertThat(notJson.proxyError(400).path("error").path("code").asText()).isEqualTo("invalid_json");
        assertThat(upstreamRequests()).isEmpty();
    }

    @Test
    void hostileBodiesAreRefusedNotForwarded() {
        ProxyEngine engine =
                engine(Map.of("policies.anonymous.models", "gpt-4o-mini", "policies.anonymous.max-tokens", "5"));
        // Two models: the check and the upstream must never read different ones.
        Answer twice = send(
                engine,
                postJson("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"model\":\"gpt-4o\",\"messages\":[]}"));
        assertThat(twice.proxyError(400).path("error").path("code").asText()).isEqualTo("invalid_json");
        Answer text = send(
                engine,
                postJson("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"max_tokens\":\"900\"}"));
        assertThat(text.proxyError(400).path("error").path("param").asText()).isEqualTo("max_tokens");
        Answer array = send(engine, postJson("/v1/chat/completions", "[{\"model\":\"gpt-4o-mini\"}]"));
        assertThat(array.status()).isEqualTo(400);
        Answer modelObject = send(engine, postJson("/v1/embeddings", "{\"model\":{\"name\":\"gpt-4o-mini\"}}"));
        assertThat(modelObject.proxyError(403).path("error").path("code").asText())
                .isEqualTo("model_not_allowed");
        // A body the policy cannot read is refused rather than relayed unchecked.
        Answer gzip = send(
                engine,
                postJson("/v1/chat/completions", "{\"model\":\"gpt-4o\"}").header("Content-Encoding", "gzip"));
        assertThat(gzip.status()).isIn(400, 415);
        Answer multipart = send(
                engine,
                ProxyRequest.builder("POST", "/v1/images/generations")
                        .header("Content-Type", "multipart/form-data; boundary=x")
                        .header("Content-Length", "3")
                        .body("abc".getBytes(StandardCharsets.UTF_8)));
        assertThat(multipart.status()).isIn(400, 415);
        assertThat(upstreamRequests()).isEmpty();
    }

    @Test
    void aStoredCompletionsUpdateIsNotAGenerationTheBodyRulesJudge() {
        ProxyEngine engine = engine(Map.of(
                "policies.anonymous.models",
                "gpt-4o*",
                "policies.anonymous.max-tokens",
                "100",
                "pass-through-routes",
                "POST /v1/chat/completions, POST /v1/chat/completions/{id}, POST /v1/responses/{id}/cancel,"
                        + " POST /v1/responses/{op}"));
        String metadata = "{\"metadata\":{\"topic\":\"demo\"}}";

        Answer update = send(engine, postJson("/v1/chat/completions/chatcmpl-1", metadata));
        Answer cancel = send(engine, postJson("/v1/responses/resp_1/cancel", "{}"));
        // The generation itself is still judged, and so is any other route under /v1/responses/ (compact generates).
        Answer chat = send(engine, postJson("/v1/chat/completions", "{\"model\":\"o3\",\"messages\":[]}"));
        Answer compact = send(engine, postJson("/v1/responses/compact", "{\"model\":\"o3\",\"input\":[]}"));

        assertThat(update.status()).as(update.text()).isEqualTo(200);
        assertThat(cancel.status()).as(cancel.text()).isEqualTo(200);
        assertThat(chat.proxyError(403).path("error").path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(compact.proxyError(403).path("error").path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(upstreamRequests())
                .extracting(LoggedRequest::getBodyAsString)
                .containsExactlyInAnyOrder(metadata, "{}");
    }

    @Test
    void aPassThroughBodyIsCheckedWhateverLengthItDeclares() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.models", "gpt-4o-mini"));
        // An adapter (or a client it believes) that says the body is empty must not carry one past the check.
        byte[] body = "{\"model\":\"gpt-4o\",\"messages\":[]}".getBytes(StandardCharsets.UTF_8);
        Answer lying = send(
                engine,
                ProxyRequest.builder("POST", "/v1/chat/completions")
                        .header("Content-Type", "application/json")
                        .header("Content-Length", "0")
                        .body(body));
        assertThat(lying.proxyError(403).path("error").path("code").asText()).isEqualTo("model_not_allowed");
        assertThat(upstreamRequests()).isEmpty();
        // A body that is empty indeed has nothing to judge, whatever its type: it goes on.
        Answer empty = send(
                engine,
                ProxyRequest.builder("POST", "/v1/chat/completions")
                        .header("Content-Length", "0")
                        .body(new byte[0]));
        assertThat(empty.status()).isEqualTo(200);
        assertThat(upstreamRequests()).hasSize(1);
    }

    @Test
    void theResponsesRouteGetsTheCapAsMaxOutputTokens() {
        ProxyEngine engine = engine(Map.of("policies.users.max-tokens", "64"));
        send(engine, as(postJson("/v1/responses", "{\"model\":\"gpt-4o\",\"input\":\"Hi\"}"), "h"));
        assertThat(onlyUpstreamBody().path("max_output_tokens").asInt()).isEqualTo(64);
        upstream.server().resetRequests();
        // Embeddings have no completion tokens: the body goes as sent.
        String embed = "{\"model\":\"text-embedding-3-small\",\"input\":\"Hi\"}";
        send(engine, as(postJson("/v1/embeddings", embed), "h"));
        assertThat(upstreamRequests().get(0).getBodyAsString()).isEqualTo(embed);
    }

    @Test
    void aFailingPolicyStoreIs503AndIsAskedAgain() {
        AtomicInteger finds = new AtomicInteger();
        PolicyStore down = new PolicyStore() {
            @Override
            public List<Policy> list() {
                throw new IllegalStateException("database down");
            }

            @Override
            public Optional<Policy> find(String name) {
                finds.incrementAndGet();
                throw new IllegalStateException("database down");
            }

            @Override
            public void save(Policy policy) {}

            @Override
            public boolean delete(String name) {
                return false;
            }
        };
        ProxyEngine engine = engine(Map.of("access.role-policies", "db=stored"), down);
        String chat = "{\"model\":\"gpt-4o\",\"messages\":[]}";
        for (int i = 0; i < 2; i++) {
            Answer a = send(engine, as(postJson("/v1/chat/completions", chat), "e", "db"));
            JsonNode error = a.proxyError(503).path("error");
            assertThat(error.path("code").asText()).isEqualTo("policy_unavailable");
            assertThat(error.path("message").asText()).doesNotContain("database");
            assertThat(a.header("Retry-After")).isEqualTo("1");
        }
        assertThat(finds).as("a failure is not cached").hasValue(2);
        assertThat(upstreamRequests()).isEmpty();
    }

    @Test
    void storedPoliciesAreFoundAfterTheConfiguredOnesAndUnknownOnesFailClosed() {
        AtomicInteger finds = new AtomicInteger();
        Policy stored = new Policy(
                "stored",
                List.of(),
                List.of("gpt-4o-mini"),
                7,
                null,
                Policy.OverCap.CLAMP,
                List.of(),
                List.of(),
                List.of(),
                Policy.Quotas.NONE);
        PolicyStore store = new PolicyStore() {
            @Override
            public List<Policy> list() {
                return List.of(stored);
            }

            @Override
            public Optional<Policy> find(String name) {
                finds.incrementAndGet();
                return name.equals("stored") ? Optional.of(stored) : Optional.empty();
            }

            @Override
            public void save(Policy policy) {}

            @Override
            public boolean delete(String name) {
                return false;
            }
        };
        ProxyEngine engine = engine(Map.of("access.role-policies", "db=stored, lost=nowhere"), store);

        String gpt4o = "{\"model\":\"gpt-4o\",\"messages\":[]}";
        assertThat(send(engine, as(postJson("/v1/chat/completions", gpt4o), "e", "db"))
                        .status())
                .isEqualTo(403);
        send(engine, as(postJson("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}"), "e", "db"));
        assertThat(onlyUpstreamBody().path("max_completion_tokens").asInt()).isEqualTo(7);
        assertThat(finds).as("cached between requests").hasValue(1);

        Answer lost = send(engine, as(postJson("/v1/chat/completions", gpt4o), "f", "lost"));
        JsonNode error = lost.proxyError(403).path("error");
        assertThat(error.path("code").asText()).isEqualTo("unknown_policy");
        assertThat(error.path("message").asText()).doesNotContain("nowhere");
        assertThat(upstreamRequests()).hasSize(1);
        // Configured policies never ask the store.
        send(engine, as(postJson("/v1/chat/completions", gpt4o), "g"));
        assertThat(finds).hasValue(2);
        assertThat(engine.config().access().policies()).containsKeys(Policy.KEYS, Policy.USERS, Policy.ANONYMOUS);
        assertThat(AccessConfig.DEFAULTS.policies()).hasSize(3);
    }
}
