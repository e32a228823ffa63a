package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static io.github.openaiproxy.core.EngineFixture.CHAT_COMPLETION;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.LimitStoreException;
import io.github.openaiproxy.core.limits.MemoryLimitStore;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.limits.Window;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.usage.Metered;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The policies' quotas on the engine, against a WireMock upstream (or a hand-driven one for streams held
 * open): what is refused never reaches the upstream, refusals are OpenAI's 429 shapes with its headers,
 * reservations are settled on the usage the tap reports (constructed here: the real tap is the usage branch's),
 * a request that ends before the upstream is refunded, and the ledger gets one record per upstream call.
 */
class ProxyEngineLimitsTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

    private final List<ProxyEngine> engines = new ArrayList<>();
    private final Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();

    @BeforeEach
    void answerEverything() {
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(okJson(CHAT_COMPLETION)
                                .withHeader("x-ratelimit-limit-requests", "10000")
                                .withHeader("x-ratelimit-remaining-requests", "9999")
                                .withHeader("x-request-id", "req_123")));
    }

    @AfterEach
    void close() {
        engines.forEach(ProxyEngine::close);
    }

    private ProxyEngine engine(Map<String, String> settings) {
        return engine(settings, b -> {});
    }

    private ProxyEngine engine(Map<String, String> settings, Consumer<ProxyEngine.Builder> more) {
        return engine(upstream.baseUrl(), settings, more);
    }

    private ProxyEngine engine(java.net.URI base, Map<String, String> settings, Consumer<ProxyEngine.Builder> more) {
        ProxyConfig c = ProxySettings.from(settings).applyTo(config(base)).build();
        ProxyEngine.Builder b = ProxyEngine.builder(c).usageLedger(ledger::add);
        more.accept(b);
        ProxyEngine e = b.build();
        engines.add(e);
        return e;
    }

    private static ProxyRequest.Builder chat(String path, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return ProxyRequest.builder("POST", path)
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(body.length))
                .remoteAddress("10.0.0.1")
                .body(body);
    }

    private static ProxyRequest.Builder v1Chat(String extra) {
        return chat("/v1/chat/completions", CHAT + extra + "}");
    }

    private static int upstreamCalls() {
        return upstream.server().getAllServeEvents().size();
    }

    private static JsonNode error(Answer a, int status, String type, String code) {
        JsonNode e = a.proxyError(status).path("error");
        assertThat(e.path("type").asText()).isEqualTo(type);
        assertThat(e.path("code").asText()).isEqualTo(code);
        return e;
    }

    @Test
    void theFourthRequestOverRequestsPerMinuteIs429WithOpenAisHeadersAndNoUpstreamCall() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "3"));

        for (int i = 0; i < 3; i++) {
            Answer ok = send(engine, v1Chat(""));
            assertThat(ok.status()).isEqualTo(200);
            // The caller's limits, not the upstream's (which said 10000).
            assertThat(ok.header("x-ratelimit-limit-requests")).isEqualTo("3");
            assertThat(ok.header("x-ratelimit-remaining-requests")).isEqualTo(Integer.toString(2 - i));
            assertThat(ok.header("x-ratelimit-reset-requests")).matches("(\\d+ms|(\\d+m)?\\d+s)");
        }
        Answer refused = send(engine, v1Chat(""));

        JsonNode e = error(refused, 429, "requests", "rate_limit_exceeded");
        assertThat(e.path("message").asText()).contains("requests-per-minute");
        assertThat(Integer.parseInt(refused.header("Retry-After"))).isBetween(1, 60);
        assertThat(refused.header("x-ratelimit-limit-requests")).isEqualTo("3");
        assertThat(refused.header("x-ratelimit-remaining-requests")).isEqualTo("0");
        assertThat(refused.header("x-ratelimit-reset-requests")).matches("(\\d+ms|(\\d+m)?\\d+s)");
        assertThat(upstreamCalls()).isEqualTo(3);
        assertThat(ledger).hasSize(3);
    }

    @Test
    void theSimpleRoutesCountAndRefuseInTheirOwnShape() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "1"));

        assertThat(send(engine, chat("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                        .status())
                .isEqualTo(200);
        Answer refused = send(engine, chat("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));

        assertThat(refused.status()).isEqualTo(429);
        assertThat(refused.header("Retry-After")).isNotNull();
        assertThat(refused.text()).contains("requests-per-minute");
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    @Test
    void aSimpleRouteIsRecordedWithItsNormalizedModelAndCarriesTheHeaders() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-hour", "5"));

        Answer a = send(engine, chat("/", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));

        assertThat(a.status()).isEqualTo(200);
        assertThat(a.header("x-ratelimit-limit-requests")).isEqualTo("5");
        assertThat(a.header("x-ratelimit-remaining-requests")).isEqualTo("4");
        assertThat(a.header("x-ratelimit-reset-requests")).matches("(\\d+h)?\\d+m\\d+s");
        assertThat(ledger).singleElement().satisfies(r -> {
            assertThat(r.identityKind()).isEqualTo("ANONYMOUS");
            assertThat(r.identityId()).isEqualTo("10.0.0.1");
            assertThat(r.keyId()).isNull();
            assertThat(r.policy()).isEqualTo("anonymous");
            assertThat(r.route()).isEqualTo("/");
            assertThat(r.requestedModel()).isEqualTo("gpt-3.5-turbo"); // the simple route's default
            assertThat(r.streamed()).isFalse();
        });
    }

    @Test
    void aSessionChatCountsAndAnUnknownSessionIsRefunded() {
        // Two: the session's creation takes one (it writes a session), its first turn the other.
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "2"));
        String unknown = "{\"sessionId\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

        // Refused by the session step after the reservation: refunded each time.
        assertThat(send(engine, chat("/", unknown)).status()).isEqualTo(404);
        assertThat(send(engine, chat("/", unknown)).status()).isEqualTo(404);
        Answer created = send(engine, chat("/sessions", "{}"));
        String id = created.json().path("sessionId").asText();
        String turn = "{\"sessionId\":\"" + id + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        assertThat(send(engine, chat("/", turn)).status()).isEqualTo(200);
        assertThat(send(engine, chat("/", turn)).status()).isEqualTo(429);
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    @Test
    void aLaterStepThatRefusesGivesTheReservationBack() {
        AtomicInteger refusals = new AtomicInteger(2);
        ProxyEngine engine = engine(
                Map.of("policies.anonymous.requests-per-minute", "1", "policies.anonymous.concurrent-requests", "1"),
                b -> b.step(
                        RequestStep.Position.BEFORE_UPSTREAM,
                        (ctx, next) -> refusals.getAndDecrement() > 0
                                ? ctx.respond(ProxyError.badRequest("No", "refused by the host", null))
                                : next.proceed(ctx)));

        assertThat(send(engine, v1Chat("")).status()).isEqualTo(400);
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(400);
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(upstreamCalls()).isEqualTo(1);
        assertThat(ledger)
                .as("no record for requests that never reached the upstream")
                .hasSize(1);
    }

    @Test
    void anExhaustedBudgetIsInsufficientQuotaAndNotToBeRetried() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.tokens-per-month", "5"));

        Answer refused = send(engine, v1Chat(",\"max_tokens\":100"));

        error(refused, 429, "insufficient_quota", "insufficient_quota");
        assertThat(refused.header("x-should-retry")).isEqualTo("false");
        assertThat(refused.header("Retry-After")).isNull();
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void aModelWithoutAPriceIsRefusedUnderACostBudgetUnlessThePolicyChargesADefault() {
        ProxyEngine refusing = engine(Map.of("policies.anonymous.cost-per-day", "5"));
        error(send(refusing, unpricedChat()), 403, "permission_error", "model_not_priced");
        assertThat(upstreamCalls()).isZero();

        // unpriced=default without a default price has nothing to charge: refused as well, never free.
        ProxyEngine noDefault =
                engine(Map.of("policies.anonymous.cost-per-day", "5", "policies.anonymous.unpriced", "default"));
        error(send(noDefault, unpricedChat()), 403, "permission_error", "model_not_priced");
        assertThat(upstreamCalls()).isZero();

        ProxyEngine charging = engine(Map.of(
                "policies.anonymous.cost-per-day",
                "5",
                "policies.anonymous.unpriced",
                "default",
                "limits.default-price",
                "1/0.5/2"));
        assertThat(send(charging, unpricedChat()).status()).isEqualTo(200);
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    @Test
    void aPriorityRequestIsReservedAtPriorityPricesSoABudgetRefusesWhatItCouldNotPay() {
        // gpt-5.5: $30 per million output tokens on Standard, $75 on Priority. 200 output tokens: $0.006 reserved on
        // Standard, $0.015 on Priority, over a budget of $0.01.
        ProxyEngine engine = engine(Map.of("policies.anonymous.cost-per-day", "0.01"));
        String chat = "{\"model\":\"gpt-5.5\",\"max_completion_tokens\":200,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

        for (String tier : List.of("priority", "fast")) {
            error(
                    send(engine, chat("/v1/chat/completions", chat + ",\"service_tier\":\"" + tier + "\"}")),
                    429,
                    "insufficient_quota",
                    "insufficient_quota");
        }
        assertThat(upstreamCalls()).isZero();
        assertThat(send(engine, chat("/v1/chat/completions", chat + ",\"service_tier\":\"flex\"}"))
                        .status())
                .isEqualTo(200);
    }

    @Test
    void dallEUnderACostBudgetOrATokenLimitIsChargedItsImagePrice() {
        // DALL-E has image prices only; the estimate counts its prompt's tokens, which must not make it unpriced.
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(okJson("{\"created\":1,\"data\":[{\"url\":\"https://example.com/a.png\"}]}")));
        String image = "{\"model\":\"dall-e-3\",\"prompt\":\"a red cat on a mat\",\"size\":\"1024x1024\"}";
        for (Map<String, String> policy : List.of(
                Map.of("policies.anonymous.cost-per-day", "10"),
                Map.of("policies.anonymous.tokens-per-day", "100000"))) {
            ledger.clear();
            ProxyEngine engine = engine(policy);

            Answer a = send(engine, chat("/v1/images/generations", image));

            assertThat(a.status()).as(policy + ": " + a.text()).isEqualTo(200);
            assertThat(ledger)
                    .as(policy.toString())
                    .singleElement()
                    .satisfies(r -> assertThat(r.costNanoUsd()).isEqualTo(40_000_000L));
        }
    }

    @Test
    void gptImageModelsPricedByTokensAloneAreEstimatedByTheirImagesUnderACostBudget() {
        // gpt-image-1.5, -2 and -2.5-* have token prices and no per-image price: the estimate takes each image as
        // the output tokens it may take (gpt-image-1's table by quality, scaled by pixels); the answer's usage settles.
        upstream.server()
                .stubFor(any(anyUrl())
                        .willReturn(okJson("{\"created\":1,\"data\":[{\"b64_json\":\"AA==\"}],"
                                + "\"usage\":{\"input_tokens\":10,\"output_tokens\":1000,\"total_tokens\":1010}}")));
        ProxyEngine engine = engine(Map.of("policies.anonymous.cost-per-day", "10"));
        for (String model : List.of("gpt-image-2", "gpt-image-1.5", "gpt-image-2.5-flare")) {
            ledger.clear();
            Answer a = send(
                    engine,
                    chat(
                            "/v1/images/generations",
                            "{\"model\":\"" + model + "\",\"prompt\":\"a cat\",\"quality\":\"high\"}"));

            assertThat(a.status()).as(model + ": " + a.text()).isEqualTo(200);
            assertThat(ledger)
                    .as(model)
                    .singleElement()
                    .satisfies(r -> assertThat(r.costNanoUsd()).isPositive());
        }
        // gpt-image-2 at high quality, 1024x1024, is estimated at 4160 output tokens at $15/M: about $0.062, over a
        // budget of $0.05, so it is refused before the call.
        ProxyEngine poor = engine(Map.of("policies.anonymous.cost-per-day", "0.05"));
        int before = upstreamCalls();
        error(
                send(
                        poor,
                        chat(
                                "/v1/images/generations",
                                "{\"model\":\"gpt-image-2\",\"prompt\":\"a cat\",\"quality\":\"high\","
                                        + "\"size\":\"1024x1024\"}")),
                429,
                "insufficient_quota",
                "insufficient_quota");
        assertThat(upstreamCalls()).isEqualTo(before);
        assertThat(send(
                                poor,
                                chat(
                                        "/v1/images/generations",
                                        "{\"model\":\"gpt-image-2\",\"prompt\":\"a cat\",\"quality\":\"low\","
                                                + "\"size\":\"1024x1024\"}"))
                        .status())
                .isEqualTo(200);
    }

    @Test
    void aClientGoneWhileTheUpstreamWorkedIsChargedItsInput() throws Exception {
        // Refunding everything would make a large prompt free when the client leaves at the right moment.
        CompletableFuture<Void> called = new CompletableFuture<>();
        UpstreamClient silent = new UpstreamClient() {
            @Override
            public CompletableFuture<UpstreamResponse> send(io.github.openaiproxy.core.upstream.UpstreamRequest r) {
                called.complete(null);
                return new CompletableFuture<>(); // never answers
            }

            @Override
            public void close() {}
        };
        for (String policy : List.of("policies.anonymous.tokens-per-day", "policies.anonymous.requests-per-day")) {
            ledger.clear();
            ProxyEngine engine = engine(Map.of(policy, "1000000"), b -> b.upstreamClient(silent));
            CompletableFuture<ProxyResponse> pending = engine.handle(chat(
                            "/v1/chat/completions",
                            "{\"model\":\"gpt-4o-mini\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                                    + "\"content\":\"" + "word ".repeat(2000) + "\"}]}")
                    .build());
            called.get(10, TimeUnit.SECONDS);

            pending.cancel(true);

            org.awaitility.Awaitility.await()
                    .atMost(java.time.Duration.ofSeconds(10))
                    .until(() -> !ledger.isEmpty());
            assertThat(ledger).as(policy).singleElement().satisfies(r -> {
                assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
                assertThat(r.estimated()).isTrue();
                assertThat(r.usage().inputTokens()).isGreaterThan(1000);
                assertThat(r.usage().outputTokens()).isZero();
            });
        }
    }

    @Test
    void aSettlementTheStoreAnswersLateIsAppliedOnce() throws Exception {
        // The store applies the first settlement at once but answers it after the step stopped waiting (a slow
        // network): kept for later as well, it would be counted twice.
        MemoryLimitStore memory = new MemoryLimitStore();
        List<Reservation> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        AtomicInteger adjusts = new AtomicInteger();
        CompletableFuture<Void> firstAnswer = new CompletableFuture<>();
        LimitStore late = new LimitStore() {
            @Override
            public CompletableFuture<Admission> reserve(Reservation r) {
                asked.add(r);
                return memory.reserve(r);
            }

            @Override
            public CompletableFuture<Void> adjust(String subject, List<Adjustment> a, long nowMillis) {
                memory.adjust(subject, a, nowMillis).join(); // applied now...
                return adjusts.getAndIncrement() == 0 ? firstAnswer : CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
                return memory.release(subject, counter, leaseId);
            }

            @Override
            public String kind() {
                return "late";
            }
        };
        ProxyEngine engine = engine(
                Map.of("policies.anonymous.tokens-per-minute", "100000", "limits.store-timeout", "200ms"),
                b -> b.limitStore(late).usageTap(reporting(500)));

        send(engine, v1Chat(",\"max_tokens\":5"));
        Thread.sleep(500); // past the 200 ms wait (and its 100 ms tick)
        firstAnswer.complete(null); // ...and answered now
        send(engine, v1Chat(",\"max_tokens\":5")); // drains what was kept for later

        assertThat(engine.limitStep().backlog().size()).isZero();
        Reservation first = asked.get(0);
        long used = memory.reserve(new Reservation(
                        first.subject(),
                        List.of(new io.github.openaiproxy.core.limits.Charge(
                                first.charges().get(0).counter(), 0)),
                        null,
                        System.currentTimeMillis()))
                .join()
                .states()
                .get(0)
                .used();
        assertThat(used).as("two requests of 500 tokens").isEqualTo(1000);
    }

    /** A chat for a model no price table knows (a self-hosted one). */
    private static ProxyRequest.Builder unpricedChat() {
        return chat("/v1/chat/completions", CHAT.replace("gpt-4o-mini", "acme-local-7b") + "}");
    }

    @Test
    void aTokenReservationThatDoesNotFitIs429WithoutAnUpstreamCall() {
        // The tap reports 700 tokens used: the first request's reservation is settled up to them.
        ProxyEngine engine =
                engine(Map.of("policies.anonymous.tokens-per-minute", "1000"), b -> b.usageTap(reporting(700)));

        Answer first = send(engine, v1Chat(",\"max_tokens\":300"));
        assertThat(first.status()).isEqualTo(200);
        assertThat(first.header("x-ratelimit-limit-tokens")).isEqualTo("1000");
        Answer second = send(engine, v1Chat(",\"max_tokens\":300"));

        error(second, 429, "tokens", "rate_limit_exceeded");
        assertThat(second.header("x-ratelimit-remaining-tokens")).isEqualTo("300");
        assertThat(second.header("x-ratelimit-reset-tokens")).matches("(\\d+ms|(\\d+m)?\\d+s)");
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    @Test
    void anOverestimateIsRefundedSoTheNextRequestFits() {
        // Each request reserves ~610 tokens of 1000; the tap reports 10 used, so the second fits after the refund.
        ProxyEngine engine =
                engine(Map.of("policies.anonymous.tokens-per-minute", "1000"), b -> b.usageTap(reporting(10)));

        assertThat(send(engine, v1Chat(",\"max_tokens\":600")).status()).isEqualTo(200);
        Answer second = send(engine, v1Chat(",\"max_tokens\":600"));

        assertThat(second.status()).isEqualTo(200);
        assertThat(Long.parseLong(second.header("x-ratelimit-remaining-tokens")))
                .isBetween(1000L - 10 - 700, 1000L - 10 - 600);
        assertThat(upstreamCalls()).isEqualTo(2);
        UsageRecord r = ledger.peek();
        assertThat(r.usage().totalTokens()).isEqualTo(10);
    }

    @Test
    void anEstimateOverTheWholeLimitIs400NamingTheParameter() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.tokens-per-minute", "1000"));

        JsonNode e = error(
                send(engine, v1Chat(",\"max_tokens\":1000000000000")),
                400,
                "invalid_request_error",
                "request_too_large");
        assertThat(e.path("param").asText()).isEqualTo("max_tokens");
        JsonNode huge = error(
                send(engine, v1Chat(",\"max_tokens\":123456789012345678901234567890")),
                400,
                "invalid_request_error",
                "request_too_large");
        assertThat(huge.path("param").asText()).isEqualTo("max_tokens");
        error(
                send(engine, v1Chat(",\"max_completion_tokens\":1e400")),
                400,
                "invalid_request_error",
                "request_too_large");
        error(
                send(engine, v1Chat(",\"max_tokens\":10,\"n\":1000000000000")),
                400,
                "invalid_request_error",
                "request_too_large");
        assertThat(upstreamCalls()).isZero();
        // Nothing was charged: a request that fits still passes.
        assertThat(send(engine, v1Chat(",\"max_tokens\":100")).status()).isEqualTo(200);
    }

    @Test
    void badInputIs400OrPassesNeverA5xxAndTheCountersStayConsistent() {
        ProxyEngine engine = engine(
                Map.of("policies.anonymous.requests-per-minute", "4", "policies.anonymous.tokens-per-day", "100000"));

        error(send(engine, v1Chat(",\"max_tokens\":-5")), 400, "invalid_request_error", "invalid_request");
        error(
                send(engine, v1Chat(",\"max_completion_tokens\":\"many\"")),
                400,
                "invalid_request_error",
                "invalid_request");
        assertThat(upstreamCalls()).isZero();
        // Malformed stream_options: the upstream judges it (here it answers 200); never a 5xx.
        assertThat(send(engine, v1Chat(",\"stream\":true,\"stream_options\":\"yes\""))
                        .status())
                .isLessThan(500);
        assertThat(send(engine, v1Chat(",\"stream_options\":{\"include_usage\":7}"))
                        .status())
                .isLessThan(500);
        // A 10 KB model name: passed on, cut in the ledger.
        String model = "m".repeat(10_240);
        Answer longName = send(engine, chat("/v1/chat/completions", "{\"model\":\"" + model + "\",\"messages\":[]}"));
        assertThat(longName.status()).isLessThan(500);
        assertThat(ledger)
                .allSatisfy(r -> assertThat(r.requestedModel().length()).isLessThanOrEqualTo(256));
        // The two 400s were refused before the reservation, the three calls counted: one more fits, then 429.
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(429);
        assertThat(upstreamCalls()).isEqualTo(4);
    }

    @Test
    void theLedgerGetsOneFullRecordPerUpstreamCall() {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        ProxyKey key = new ProxyKey(
                "k1", k.displayPrefix(), k.hash(), "ci", "team-a", "keys", Instant.EPOCH, null, null, null);
        ProxyEngine engine = engine(Map.of(), b -> b.proxyKeys(InMemoryProxyKeyStore.of(key)));

        Answer a = send(engine, v1Chat("").header("Authorization", "Bearer " + k.secret()));

        assertThat(a.status()).isEqualTo(200);
        // Without rate limits the upstream's headers are relayed as they are.
        assertThat(a.header("x-ratelimit-limit-requests")).isEqualTo("10000");
        assertThat(ledger).hasSize(1);
        UsageRecord r = ledger.peek();
        assertThat(r.identityKind()).isEqualTo("PROXY_KEY");
        assertThat(r.identityId()).isEqualTo("k1");
        assertThat(r.keyId()).isEqualTo("k1");
        assertThat(r.owner()).isEqualTo("team-a");
        assertThat(r.policy()).isEqualTo("keys");
        assertThat(r.route()).isEqualTo("/v1/chat/completions");
        assertThat(r.requestedModel()).isEqualTo("gpt-4o-mini");
        assertThat(r.upstream()).isEqualTo("openai");
        assertThat(r.upstreamStatus()).isEqualTo(200);
        assertThat(r.proxyStatus()).isEqualTo(200);
        assertThat(r.durationMicros()).isPositive();
        assertThat(r.toString()).doesNotContain(k.secret());
    }

    @Test
    void anUnreachableUpstreamIsRecordedAsFailedAndItsTokensRefunded() {
        java.net.URI closed =
                java.net.URI.create("http://127.0.0.1:" + io.github.openaiproxy.core.testing.Upstream.closedPort());
        ProxyEngine engine = engine(closed, Map.of("policies.anonymous.tokens-per-minute", "1000"), b -> {});

        assertThat(send(engine, v1Chat(",\"max_tokens\":600")).status()).isEqualTo(502);
        // Refunded: without it the second estimate (another ~610) would not fit in 1000.
        assertThat(send(engine, v1Chat(",\"max_tokens\":600")).status()).isEqualTo(502);

        assertThat(ledger).hasSize(2).allSatisfy(r -> {
            assertThat(r.upstreamStatus()).isZero();
            assertThat(r.proxyStatus()).isEqualTo(502);
            assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
        });
    }

    @Test
    void aKeysOwnerSharesItsPolicysLimitsAcrossItsKeys() {
        ProxyKeys.NewKey a = ProxyKeys.generate();
        ProxyKeys.NewKey b = ProxyKeys.generate();
        InMemoryProxyKeyStore keys = InMemoryProxyKeyStore.of(
                new ProxyKey("ka", a.displayPrefix(), a.hash(), "a", "team", "keys", Instant.EPOCH, null, null, null),
                new ProxyKey("kb", b.displayPrefix(), b.hash(), "b", "team", "keys", Instant.EPOCH, null, null, null));
        ProxyEngine engine =
                engine(Map.of("policies.keys.requests-per-minute", "2"), builder -> builder.proxyKeys(keys));

        assertThat(send(engine, v1Chat("").header("Authorization", "Bearer " + a.secret()))
                        .status())
                .isEqualTo(200);
        assertThat(send(engine, v1Chat("").header("Authorization", "Bearer " + b.secret()))
                        .status())
                .isEqualTo(200);
        Answer third = send(engine, v1Chat("").header("Authorization", "Bearer " + b.secret()));

        error(third, 429, "requests", "rate_limit_exceeded");
        assertThat(upstreamCalls()).isEqualTo(2);
    }

    @Test
    void otherV1RoutesCountRequestsWithoutReadingTheBody() {
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "1"));

        assertThat(send(engine, ProxyRequest.builder("GET", "/v1/models").remoteAddress("10.0.0.1"))
                        .status())
                .isEqualTo(200);
        error(
                send(engine, ProxyRequest.builder("GET", "/v1/models/gpt-4o").remoteAddress("10.0.0.1")),
                429,
                "requests",
                "rate_limit_exceeded");
    }

    // ---- concurrency ------------------------------------------------------------------------------------

    /** An upstream whose event streams stay open until the test ends them. */
    private static final class HeldStreams implements UpstreamClient {
        final List<TestPublisher> bodies = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<UpstreamResponse> send(io.github.openaiproxy.core.upstream.UpstreamRequest r) {
            TestPublisher body = new TestPublisher();
            bodies.add(body);
            HttpHeaders h =
                    new HeaderMap().set("Content-Type", "text/event-stream").build();
            return CompletableFuture.completedFuture(new UpstreamResponse(200, h, body));
        }

        @Override
        public void close() {}
    }

    /** An upstream event that carries nothing to meter: the first event, at which a stream's answer is handed over. */
    private static final String FIRST_EVENT = "data: {}\n\n";

    /**
     * Sends a stream request to {@code streams} and its upstream's first event (a stream's answer comes with it), and
     * returns the answer.
     */
    private static ProxyResponse open(ProxyEngine engine, HeldStreams streams, ProxyRequest request) throws Exception {
        int index = streams.bodies.size();
        CompletableFuture<ProxyResponse> answer = engine.handle(request);
        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(10))
                .until(() -> streams.bodies.size() > index
                        && streams.bodies.get(index).outstanding() > 0);
        streams.bodies.get(index).emit(FIRST_EVENT);
        return answer.get(10, TimeUnit.SECONDS);
    }

    /** Subscribes to an answer's body; cancels at once when {@code disconnect}, else reads until it ends. */
    private static AtomicBoolean subscribe(ProxyResponse r, boolean disconnect) {
        AtomicBoolean ended = new AtomicBoolean();
        r.body().subscribe(new Flow.Subscriber<List<ByteBuffer>>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                if (disconnect) {
                    s.cancel();
                    ended.set(true);
                } else {
                    s.request(Long.MAX_VALUE);
                }
            }

            @Override
            public void onNext(List<ByteBuffer> item) {}

            @Override
            public void onError(Throwable t) {
                ended.set(true);
            }

            @Override
            public void onComplete() {
                ended.set(true);
            }
        });
        return ended;
    }

    @Test
    void aBackgroundStreamItsClientLeftIsChargedItsReservation() throws Exception {
        // A background response goes on after its stream's client left (OpenAI finishes it and bills it), unlike a
        // stream in the foreground, which ends with its connection: charged what was reserved, not what was relayed.
        HeldStreams streams = new HeldStreams();
        ProxyEngine engine = engine(Map.of("policies.anonymous.cost-per-day", "10"), b -> b.upstreamClient(streams));
        String request = "{\"model\":\"gpt-4o\",\"stream\":true,\"max_output_tokens\":1000,\"input\":\"Hi\"";

        for (String background : List.of(",\"background\":true}", "}")) {
            ledger.clear();
            ProxyResponse r = open(
                    engine, streams, chat("/v1/responses", request + background).build());
            assertThat(subscribe(r, true)).isTrue();

            long output = background.contains("true") ? 1000 : 0;
            assertThat(ledger).as(background).singleElement().satisfies(row -> {
                assertThat(row.estimated()).isTrue();
                assertThat(row.usage().outputTokens()).isEqualTo(output);
                assertThat(row.costNanoUsd()).isEqualTo(row.usage().inputTokens() * 2_500 + output * 10_000);
            });
        }
    }

    @Test
    void twoOpenStreamsHoldTheirLeasesUntilTheyEndOrTheClientGoes() throws Exception {
        HeldStreams streams = new HeldStreams();
        ProxyEngine engine =
                engine(Map.of("policies.anonymous.concurrent-requests", "2"), b -> b.upstreamClient(streams));
        String stream = ",\"stream\":true";

        ProxyResponse one = open(engine, streams, v1Chat(stream).build());
        ProxyResponse two = open(engine, streams, v1Chat(stream).build());
        assertThat(one.status()).isEqualTo(200);
        assertThat(two.status()).isEqualTo(200);
        Answer third = send(engine, v1Chat(stream));
        error(third, 429, "requests", "rate_limit_exceeded");
        assertThat(third.header("Retry-After")).isEqualTo("1");
        assertThat(streams.bodies).hasSize(2);

        // The first stream ends: its lease is back.
        AtomicBoolean ended = subscribe(one, false);
        streams.bodies.get(0).complete();
        assertThat(ended).isTrue();
        ProxyResponse four = open(engine, streams, v1Chat(stream).build());
        assertThat(four.status()).isEqualTo(200);
        error(send(engine, v1Chat(stream)), 429, "requests", "rate_limit_exceeded");

        // The second's client goes away: its lease is back too.
        subscribe(two, true);
        ProxyResponse five = open(engine, streams, v1Chat(stream).build());
        assertThat(five.status()).isEqualTo(200);
        assertThat(streams.bodies).hasSize(4);
        subscribe(four, true);
        subscribe(five, true);
    }

    /**
     * The engine closing with a request under way (a stream its container has not ended yet, its upstream silent)
     * ends it as if its client had gone, while the ledger and the limit store are still open: its usage is recorded
     * and its lease given back. A Spring context closes the engine (then the ledger and the store) before it destroys
     * the web server that ends such a request, so the row came to a closed ledger and the lease stayed held for
     * {@code limits.lease-timeout} (10 minutes) after every restart.
     */
    @Test
    void closingTheEngineEndsTheRequestsUnderWayWhileTheLedgerAndTheStoreAreOpen() throws Exception {
        HeldStreams streams = new HeldStreams(); // the application's client: the engine does not close it
        MemoryLimitStore store = new MemoryLimitStore();
        AtomicBoolean ledgerClosed = new AtomicBoolean();
        List<UsageRecord> late = new java.util.concurrent.CopyOnWriteArrayList<>();
        io.github.openaiproxy.core.usage.UsageLedger closing = new io.github.openaiproxy.core.usage.UsageLedger() {
            @Override
            public void record(UsageRecord r) {
                (ledgerClosed.get() ? late : ledger).add(r);
            }

            @Override
            public void close() {
                ledgerClosed.set(true);
            }
        };
        Map<String, String> oneStream = Map.of("policies.anonymous.concurrent-requests", "1");
        ProxyEngine engine = engine(
                oneStream, b -> b.upstreamClient(streams).limitStore(store).usageLedger(closing));
        ProxyResponse open = open(engine, streams, v1Chat(",\"stream\":true").build());
        assertThat(open.status()).isEqualTo(200);
        AtomicBoolean ended = subscribe(open, false); // a container that reads on and has not ended the exchange

        engine.close();

        assertThat(late).as("records after the ledger closed").isEmpty();
        assertThat(ledger).singleElement().satisfies(r -> {
            assertThat(r.streamed()).isTrue();
            assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
        });
        assertThat(streams.bodies.get(0).isCancelled())
                .as("the upstream call is cancelled")
                .isTrue();
        // The lease is back: the same caller opens a stream through another instance on the same store.
        ProxyEngine next = engine(oneStream, b -> b.upstreamClient(streams).limitStore(store));
        ProxyResponse again = open(next, streams, v1Chat(",\"stream\":true").build());
        assertThat(again.status()).isEqualTo(200);
        subscribe(again, true);
        assertThat(ended)
                .as("the body was not ended for its subscriber: the container ends the exchange")
                .isFalse();
    }

    /** A request body its test sends when it chooses: the request waits at the limit step, which reads it. */
    private static final class HeldRequestBody implements Flow.Publisher<ByteBuffer> {
        final java.util.concurrent.CountDownLatch asked = new java.util.concurrent.CountDownLatch(1);
        volatile Flow.Subscriber<? super ByteBuffer> reader;

        @Override
        public void subscribe(Flow.Subscriber<? super ByteBuffer> s) {
            reader = s;
            s.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                    asked.countDown();
                }

                @Override
                public void cancel() {}
            });
        }

        void send(byte[] body) {
            reader.onNext(ByteBuffer.wrap(body));
            reader.onComplete();
        }
    }

    private static void assertShuttingDown(Answer a) {
        JsonNode e = error(a, 503, "server_error", "shutting_down");
        assertThat(e.path("message").asText()).contains("shutting down");
        assertThat(a.header("Retry-After")).isEqualTo("1");
    }

    /**
     * A request still before the upstream call when the engine closes (here reading its body at the limit step; a
     * JWKS fetch or the limit store admitting it holds it the same way) is answered 503 with Retry-After at once,
     * never cut, and when it goes on later it calls no upstream (whose client is closed) and leaves no usage row.
     */
    @Test
    void closingAnswersARequestNotSentUpstreamYetWith503() throws Exception {
        ProxyEngine engine = engine(Map.of());
        int before = upstreamCalls();
        byte[] json = (CHAT + "}").getBytes(StandardCharsets.UTF_8);
        HeldRequestBody body = new HeldRequestBody();
        CompletableFuture<ProxyResponse> answer = engine.handle(ProxyRequest.builder("POST", "/v1/chat/completions")
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(json.length))
                .remoteAddress("10.0.0.1")
                .body(body)
                .build());
        assertThat(body.asked.await(10, TimeUnit.SECONDS)).isTrue();

        Thread closer = new Thread(engine::close, "closer");
        closer.start();
        Answer refused = Answer.of(answer.get(10, TimeUnit.SECONDS));
        assertShuttingDown(refused);

        body.send(json); // the rest of the request comes after the engine closed
        closer.join(10_000);
        assertThat(closer.isAlive()).as("close() returns").isFalse();
        Thread.sleep(300); // what the late body could have started
        assertThat(upstreamCalls()).isEqualTo(before);
        assertThat(ledger).isEmpty();
    }

    /**
     * Without a ledger or a shared limit store nothing tracks the requests (their path costs what it did): one still
     * reading its body when the engine closes is answered 503 when it goes on (at the limit step, or at the upstream
     * call), never sent to the closed upstream client (a 502 before).
     */
    @Test
    void anUntrackedRequestGoingOnAfterCloseIsAnswered503() throws Exception {
        ProxyEngine engine = engine(Map.of(), b -> b.usageLedger(io.github.openaiproxy.core.usage.UsageLedger.NONE));
        int before = upstreamCalls();
        byte[] json = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}".getBytes(StandardCharsets.UTF_8);
        HeldRequestBody body = new HeldRequestBody();
        CompletableFuture<ProxyResponse> answer = engine.handle(ProxyRequest.builder("POST", "/")
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(json.length))
                .remoteAddress("10.0.0.1")
                .body(body)
                .build());
        assertThat(body.asked.await(10, TimeUnit.SECONDS)).isTrue();

        engine.close();
        body.send(json);

        Answer refused = Answer.of(answer.get(10, TimeUnit.SECONDS));
        // the simple route's error style: {"error": "Service Unavailable", "message": ...}
        assertThat(refused.proxyError(503).path("message").asText()).contains("shutting down");
        assertThat(refused.header("Retry-After")).isEqualTo("1");
        assertThat(upstreamCalls()).isEqualTo(before);
    }

    /** A request that comes once the engine closed is answered 503 with Retry-After, never sent upstream. */
    @Test
    void aRequestAfterCloseIsAnswered503() {
        ProxyEngine engine = engine(Map.of());
        int before = upstreamCalls();
        engine.close();
        assertShuttingDown(send(engine, v1Chat("")));
        assertThat(upstreamCalls()).isEqualTo(before);
        assertThat(ledger).isEmpty();
    }

    /**
     * The engine closing while a container's thread is ending a stream (Tomcat times out its async requests when it
     * stops, and ends them on its own threads): that end took the request off the open ones, but its usage was not
     * recorded yet. Under load that thread may get to the ledger seconds later; close() waits for it (bounded)
     * instead of closing the ledger under it, which dropped the row.
     */
    @Test
    void closingTheEngineWaitsForAStreamAnotherThreadIsEnding() throws Exception {
        HeldStreams streams = new HeldStreams();
        AtomicBoolean ledgerClosed = new AtomicBoolean();
        List<UsageRecord> late = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.CountDownLatch recording = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch slowThread = new java.util.concurrent.CountDownLatch(1);
        io.github.openaiproxy.core.usage.UsageLedger closing = new io.github.openaiproxy.core.usage.UsageLedger() {
            @Override
            public void record(UsageRecord r) {
                recording.countDown();
                try {
                    slowThread.await(30, TimeUnit.SECONDS); // the container's thread, starved of CPU
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                (ledgerClosed.get() ? late : ledger).add(r);
            }

            @Override
            public void close() {
                ledgerClosed.set(true);
            }
        };
        ProxyEngine engine = engine(Map.of(), b -> b.upstreamClient(streams).usageLedger(closing));
        ProxyResponse open = open(engine, streams, v1Chat(",\"stream\":true").build());
        java.util.concurrent.atomic.AtomicReference<Flow.Subscription> relayed =
                new java.util.concurrent.atomic.AtomicReference<>();
        open.body().subscribe(new Flow.Subscriber<List<ByteBuffer>>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                relayed.set(s);
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {}

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onComplete() {}
        });
        Thread container = new Thread(() -> relayed.get().cancel(), "container-timeout");
        container.start();
        assertThat(recording.await(10, TimeUnit.SECONDS)).isTrue();

        Thread closer = new Thread(engine::close, "closer");
        closer.start();
        closer.join(1000);
        assertThat(closer.isAlive())
                .as("close() waits for the usage of the request being ended")
                .isTrue();
        slowThread.countDown();
        closer.join(10_000);
        container.join(10_000);

        assertThat(closer.isAlive()).isFalse();
        assertThat(late).as("records after the ledger closed").isEmpty();
        assertThat(ledger).singleElement().satisfies(r -> {
            assertThat(r.streamed()).isTrue();
            assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
        });
    }

    /**
     * An answer handed to the container but not yet read when the engine closes (its body not subscribed: the
     * container's thread that would write it has not run yet) is discarded by close(), so its usage is recorded
     * while the ledger is open; the container reading it later sees it fail (an incomplete response).
     */
    @Test
    void closingTheEngineDiscardsAnAnswerNobodyReadYetAndRecordsIt() throws Exception {
        HeldStreams streams = new HeldStreams();
        AtomicBoolean ledgerClosed = new AtomicBoolean();
        List<UsageRecord> late = new java.util.concurrent.CopyOnWriteArrayList<>();
        io.github.openaiproxy.core.usage.UsageLedger closing = new io.github.openaiproxy.core.usage.UsageLedger() {
            @Override
            public void record(UsageRecord r) {
                (ledgerClosed.get() ? late : ledger).add(r);
            }

            @Override
            public void close() {
                ledgerClosed.set(true);
            }
        };
        ProxyEngine engine = engine(Map.of(), b -> b.upstreamClient(streams).usageLedger(closing));
        ProxyResponse unread = open(engine, streams, v1Chat(",\"stream\":true").build());

        engine.close();

        assertThat(late).as("records after the ledger closed").isEmpty();
        assertThat(ledger)
                .singleElement()
                .satisfies(r -> assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE));
        assertThat(streams.bodies.get(0).isCancelled()).isTrue();
        java.util.concurrent.CompletableFuture<Throwable> failed = new java.util.concurrent.CompletableFuture<>();
        unread.body().subscribe(new Flow.Subscriber<List<ByteBuffer>>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.request(1);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
                failed.complete(null);
            }

            @Override
            public void onError(Throwable t) {
                failed.complete(t);
            }

            @Override
            public void onComplete() {
                failed.complete(null);
            }
        });
        assertThat(failed.get(10, TimeUnit.SECONDS))
                .as("a body the engine discarded on closing fails, never looks complete")
                .isNotNull();
        assertThat(late).isEmpty();
    }

    @Test
    void withoutQuotasOrLedgerThePassThroughBodyStreamsUnread() throws Exception {
        CompletableFuture<Void> sent = new CompletableFuture<>();
        UpstreamClient client = new UpstreamClient() {
            @Override
            public CompletableFuture<UpstreamResponse> send(io.github.openaiproxy.core.upstream.UpstreamRequest r) {
                sent.complete(null);
                HttpHeaders h =
                        new HeaderMap().set("Content-Type", "application/json").build();
                return CompletableFuture.completedFuture(new UpstreamResponse(
                        200, h, io.github.openaiproxy.core.internal.Bodies.responseOf(new byte[0])));
            }

            @Override
            public void close() {}
        };
        ProxyEngine engine = ProxyEngine.builder(config(upstream.baseUrl()).build())
                .upstreamClient(client)
                .build();
        engines.add(engine);
        try (java.util.concurrent.SubmissionPublisher<ByteBuffer> body =
                new java.util.concurrent.SubmissionPublisher<>()) {
            CompletableFuture<ProxyResponse> answer = engine.handle(ProxyRequest.builder("POST", "/v1/chat/completions")
                    .header("Content-Type", "application/json")
                    .remoteAddress("10.0.0.1")
                    .body(body)
                    .build());
            body.submit(ByteBuffer.wrap("{\"model\":\"gpt-4o-mini\",".getBytes(StandardCharsets.UTF_8)));
            // The upstream call starts while the body is still arriving: nothing read it whole first.
            sent.get(10, TimeUnit.SECONDS);
            body.submit(ByteBuffer.wrap("\"messages\":[]}".getBytes(StandardCharsets.UTF_8)));
            body.close();
            assertThat(answer.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        }
    }

    // ---- the store down ---------------------------------------------------------------------------------

    /** A memory store that fails on demand, as a database or Redis would while down. */
    static class FailingStore implements LimitStore {
        final MemoryLimitStore memory = new MemoryLimitStore();
        final AtomicBoolean down = new AtomicBoolean();

        private <T> CompletableFuture<T> failed() {
            return CompletableFuture.failedFuture(new LimitStoreException("down", null));
        }

        @Override
        public CompletableFuture<Admission> reserve(Reservation r) {
            return down.get() ? failed() : memory.reserve(r);
        }

        @Override
        public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long now) {
            return down.get() ? failed() : memory.adjust(subject, adjustments, now);
        }

        @Override
        public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
            return down.get() ? failed() : memory.release(subject, counter, leaseId);
        }

        @Override
        public String kind() {
            return "failing";
        }
    }

    /** A memory store that writes down which of its methods were called, in order. */
    static final class RecordingStore extends FailingStore {
        final List<String> calls = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<Admission> reserve(Reservation r) {
            calls.add("reserve");
            return super.reserve(r);
        }

        @Override
        public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long now) {
            calls.add("adjust");
            return super.adjust(subject, adjustments, now);
        }

        @Override
        public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
            calls.add("release");
            return super.release(subject, counter, leaseId);
        }

        @Override
        public CompletableFuture<Void> settle(
                String subject, List<Adjustment> adjustments, Counter leaseCounter, String leaseId, long now) {
            calls.add("settle");
            return memory.settle(subject, adjustments, leaseCounter, leaseId, now);
        }
    }

    /**
     * The answer's end is one call to the store: the settlement on the usage and the lease together (a shared
     * store does both in one round trip), for an answer relayed and for one a later step refused.
     */
    @Test
    void theLeaseGoesBackWithTheSettlementInOneCall() {
        RecordingStore store = new RecordingStore();
        AtomicInteger refusals = new AtomicInteger(1);
        ProxyEngine engine = engine(
                Map.of(
                        "policies.anonymous.tokens-per-minute", "100000",
                        "policies.anonymous.concurrent-requests", "1"),
                b -> b.limitStore(store)
                        .usageTap(reporting(10))
                        .step(
                                RequestStep.Position.BEFORE_UPSTREAM,
                                (ctx, next) -> refusals.getAndDecrement() > 0
                                        ? ctx.respond(ProxyError.badRequest("No", "refused by the host", null))
                                        : next.proceed(ctx)));

        assertThat(send(engine, v1Chat("")).status()).isEqualTo(400);
        assertThat(store.calls).containsExactly("reserve", "settle");
        store.calls.clear();
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(store.calls).containsExactly("reserve", "settle");
        store.calls.clear();
        // The lease is back: the next request fits the limit of one.
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(store.calls).containsExactly("reserve", "settle");
        assertThat(upstreamCalls()).isEqualTo(2);
    }

    @Test
    void rateLimitsAreAllowedWhileTheStoreIsDownAndCountedOnceItIsBack() {
        FailingStore store = new FailingStore();
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "2"), b -> b.limitStore(store));
        store.down.set(true);

        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(engine.limitStep().backlog().size()).isEqualTo(2);
        assertThat(upstreamCalls()).isEqualTo(2);

        store.down.set(false);
        // The store answers: this request fits (1 of 2), then the backlog's 2 are counted.
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(engine.limitStep().backlog().size()).isZero();
        error(send(engine, v1Chat("")), 429, "requests", "rate_limit_exceeded");
        assertThat(upstreamCalls()).isEqualTo(3);
    }

    @Test
    void aStoreThatDoesNotAnswerCountsAsDown() {
        List<CompletableFuture<Admission>> late = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<Reservation> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        FailingStore silent = new FailingStore() {
            @Override
            public CompletableFuture<Admission> reserve(Reservation r) {
                CompletableFuture<Admission> f = new CompletableFuture<>(); // answers only when the test says so
                late.add(f);
                asked.add(r);
                return f;
            }
        };
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "2"), b -> b.limitStore(silent));

        // After the store's timeout the rate limit is allowed (the default), and kept for later.
        assertThat(send(engine, v1Chat("")).status()).isEqualTo(200);
        assertThat(engine.limitStep().backlog().size()).isEqualTo(1);
        assertThat(upstreamCalls()).isEqualTo(1);

        // The store made the reservation after all, too late: it is given back, so nothing counts twice. The store's
        // timer thread gives it back, and may do so just after the response was sent: waited for, not assumed.
        Admission made = silent.memory.reserve(asked.get(0)).join();
        late.get(0).complete(made);
        assertThat(made.states().get(0).used()).isEqualTo(1);
        Reservation look = new Reservation(
                asked.get(0).subject(),
                List.of(new io.github.openaiproxy.core.limits.Charge(
                        asked.get(0).charges().get(0).counter(), 0)),
                null,
                asked.get(0).nowMillis());
        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(silent.memory
                                .reserve(look)
                                .join()
                                .states()
                                .get(0)
                                .used())
                        .isZero());
    }

    @Test
    void rateLimitsCanBeRefusedWhileTheStoreIsDown() {
        FailingStore store = new FailingStore();
        ProxyEngine engine = engine(
                Map.of("policies.anonymous.requests-per-minute", "2", "limits.rate-limits-when-down", "refuse"),
                b -> b.limitStore(store));
        store.down.set(true);

        Answer refused = send(engine, v1Chat(""));

        error(refused, 503, "server_error", "limits_unavailable");
        assertThat(refused.header("Retry-After")).isEqualTo("1");
        assertThat(upstreamCalls()).isZero();
    }

    @Test
    void budgetsAreRefusedWhileTheStoreIsDownUnlessAllowed() {
        FailingStore store = new FailingStore();
        ProxyEngine refusing =
                engine(Map.of("policies.anonymous.tokens-per-month", "100000"), b -> b.limitStore(store));
        store.down.set(true);
        error(send(refusing, v1Chat("")), 503, "server_error", "limits_unavailable");
        assertThat(upstreamCalls()).isZero();

        FailingStore other = new FailingStore();
        other.down.set(true);
        ProxyEngine allowing = engine(
                Map.of("policies.anonymous.tokens-per-month", "100000", "limits.budgets-when-down", "allow"),
                b -> b.limitStore(other));
        assertThat(send(allowing, v1Chat("")).status()).isEqualTo(200);
        assertThat(upstreamCalls()).isEqualTo(1);
    }

    // ---- load -------------------------------------------------------------------------------------------

    @Test
    void tenThousandRequestsAgainstAHundredPerMinutePassExactlyAHundred() throws Exception {
        ProxyEngine engine = engine(Map.of("policies.anonymous.requests-per-minute", "100"));
        ExecutorService threads = Executors.newFixedThreadPool(16);
        Map<Integer, AtomicInteger> statuses = new java.util.concurrent.ConcurrentHashMap<>();
        try {
            List<CompletableFuture<Void>> all = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                all.add(CompletableFuture.runAsync(
                        () -> {
                            int s = send(engine, v1Chat("")).status();
                            statuses.computeIfAbsent(s, x -> new AtomicInteger())
                                    .incrementAndGet();
                        },
                        threads));
            }
            CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).get(120, TimeUnit.SECONDS);
        } finally {
            threads.shutdownNow();
        }
        Map<Integer, Integer> counts = new HashMap<>();
        statuses.forEach((k, v) -> counts.put(k, v.get()));
        assertThat(counts).containsOnlyKeys(200, 429);
        assertThat(counts.get(200)).isEqualTo(100);
        assertThat(upstreamCalls()).isEqualTo(100);
        assertThat(ledger).hasSize(100);
    }

    // ---- pieces -----------------------------------------------------------------------------------------

    @Test
    void settlementMovesTokensAndMoneyFromTheEstimateToWhatWasUsed() {
        List<QuotaCounters.Spec> specs = List.of(
                new QuotaCounters.Spec(
                        new Counter("requests-per-minute", 10, new Window.Rolling(java.time.Duration.ofMinutes(1))),
                        QuotaCounters.Kind.REQUESTS,
                        false),
                new QuotaCounters.Spec(
                        new Counter("tokens-per-minute", 1000, new Window.Rolling(java.time.Duration.ofMinutes(1))),
                        QuotaCounters.Kind.TOKENS,
                        false),
                new QuotaCounters.Spec(
                        new Counter("cost-per-day", 1000, new Window.Calendar(Window.Period.DAY)),
                        QuotaCounters.Kind.COST,
                        true));

        assertThat(QuotaCounters.settlement(specs, new long[] {1, 600, 500}, 10, 20))
                .containsExactly(0, -590, -480);
        assertThat(QuotaCounters.settlement(specs, new long[] {1, 600, 500}, 900, 700))
                .containsExactly(0, 300, 200);
    }

    @Test
    void resetsAreWrittenAsOpenAiWritesThem() {
        assertThat(RateLimitHeaders.openAiDuration(20)).isEqualTo("20ms");
        assertThat(RateLimitHeaders.openAiDuration(1000)).isEqualTo("1s");
        assertThat(RateLimitHeaders.openAiDuration(1001)).isEqualTo("2s");
        assertThat(RateLimitHeaders.openAiDuration(360_000)).isEqualTo("6m0s");
        assertThat(RateLimitHeaders.openAiDuration(3_723_000)).isEqualTo("1h2m3s");
        assertThat(UsageEstimate.saturatedMultiply(Long.MAX_VALUE / 2, 3)).isEqualTo(Long.MAX_VALUE);
        assertThat(UsageEstimate.saturatedAdd(Long.MAX_VALUE, 1)).isEqualTo(Long.MAX_VALUE);
        assertThat(QuotaCounters.nanoUsd(new java.math.BigDecimal("1.5"))).isEqualTo(1_500_000_000L);
    }

    /** A tap that reports {@code tokens} used (all output) once the answer's body ends. */
    private static LimitStep.Tap reporting(long tokens) {
        return (answer, spec, onDone) -> BodyEnds.onEnd(
                answer,
                () -> onDone.accept(new Metered(
                        new TokenUsage(0, 0, tokens, 0, 0),
                        false,
                        "gpt-4o-mini",
                        "req_123",
                        answer.status(),
                        answer.streaming(),
                        UsageRecord.Outcome.COMPLETED,
                        -1,
                        System.nanoTime())));
    }
}
