package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Charge;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.MemoryLimitStore;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Dollars as OpenAI bills them, computed by hand from the shipped price table, against what the ledger records and
 * what the money budget is charged (reservation plus settlement, net): the answer's usage shapes of each API, the
 * service tier the answer names, and a background response whose usage the creating call does not carry.
 */
class ProxyEngineBillingTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** gpt-4o: $2.50 input, $1.25 cached input, $10.00 output per million tokens; in nano-dollars per token. */
    private static final long IN = 2_500;

    private static final long CACHED = 1_250;
    private static final long OUT = 10_000;

    private final Queue<UsageRecord> ledger = new ConcurrentLinkedQueue<>();
    private final AtomicLong budgetCharged = new AtomicLong();
    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    /** A memory store that sums what the money budget is charged: reservations plus settlements. */
    private LimitStore countingStore() {
        MemoryLimitStore memory = new MemoryLimitStore();
        return new LimitStore() {
            @Override
            public CompletableFuture<Admission> reserve(Reservation r) {
                return memory.reserve(r).thenApply(a -> {
                    if (a.admitted()) {
                        for (Charge c : r.charges()) {
                            if (c.counter().name().equals(QuotaCounters.COST_PER_DAY)) {
                                budgetCharged.addAndGet(c.amount());
                            }
                        }
                    }
                    return a;
                });
            }

            @Override
            public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long nowMillis) {
                for (Adjustment a : adjustments) {
                    if (a.counter().name().equals(QuotaCounters.COST_PER_DAY)) {
                        budgetCharged.addAndGet(a.delta());
                    }
                }
                return memory.adjust(subject, adjustments, nowMillis);
            }

            @Override
            public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
                return memory.release(subject, counter, leaseId);
            }

            @Override
            public String kind() {
                return "counting";
            }

            @Override
            public void close() {}
        };
    }

    private UsageRecord bill(String path, String request, String contentType, String answer) {
        return bill(
                path,
                request,
                aResponse()
                        .withStatus(200)
                        .withHeader("Content-Type", contentType)
                        .withBody(answer));
    }

    private UsageRecord bill(
            String path, String request, com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder answer) {
        upstream.server().resetAll();
        upstream.server().stubFor(any(anyUrl()).willReturn(answer));
        ledger.clear();
        budgetCharged.set(0);
        if (engine == null) {
            ProxyConfig c = ProxySettings.from(Map.of(
                            "policies.anonymous.cost-per-day",
                            "100",
                            "pass-through-routes",
                            "POST /v1/chat/completions, POST /v1/embeddings, POST /v1/responses,"
                                    + " GET /v1/responses/{id}, POST /v1/responses/{id}/cancel,"
                                    + " POST /v1/fine_tuning/jobs"))
                    .applyTo(config(upstream.baseUrl()))
                    .build();
            engine = ProxyEngine.builder(c)
                    .usageLedger(ledger::add)
                    .limitStore(countingStore())
                    .build();
        }
        byte[] body = request.getBytes(StandardCharsets.UTF_8);
        Answer a = send(
                engine,
                ProxyRequest.builder("POST", path)
                        .header("Content-Type", "application/json")
                        .header("Content-Length", Integer.toString(body.length))
                        .remoteAddress("10.0.0.1")
                        .body(body));
        assertThat(ledger).as(a.text()).hasSize(1);
        UsageRecord r = ledger.peek();
        assertThat(budgetCharged.get())
                .as("the budget is charged what the ledger records")
                .isEqualTo(r.costNanoUsd());
        return r;
    }

    private static final String CHAT_USAGE = "{\"prompt_tokens\":2000,\"completion_tokens\":300,\"total_tokens\":2300,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
            + "\"completion_tokens_details\":{\"reasoning_tokens\":100,\"audio_tokens\":0,"
            + "\"accepted_prediction_tokens\":20,\"rejected_prediction_tokens\":30}}";

    /** 976 uncached and 1024 cached input tokens, 300 output tokens (reasoning and predictions among them). */
    private static final long CHAT_COST = 976 * IN + 1024 * CACHED + 300 * OUT;

    private static String chat(String tier) {
        return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi!\"},"
                + "\"finish_reason\":\"stop\"}],\"service_tier\":\"" + tier + "\",\"usage\":" + CHAT_USAGE + "}";
    }

    private static final String CHAT_REQUEST =
            "{\"model\":\"gpt-4o\",\"max_tokens\":500,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

    @Test
    void chatUsageIsPricedWithCachedInputAtTheCachedRateAndReasoningInsideTheOutput() {
        UsageRecord r = bill("/v1/chat/completions", CHAT_REQUEST, "application/json", chat("default"));

        assertThat(r.usage().inputTokens()).isEqualTo(2000);
        assertThat(r.usage().cachedInputTokens()).isEqualTo(1024);
        assertThat(r.usage().outputTokens()).isEqualTo(300);
        assertThat(r.usage().reasoningTokens()).isEqualTo(100);
        assertThat(r.costNanoUsd()).isEqualTo(CHAT_COST).isEqualTo(6_720_000L);
        assertThat(r.estimated()).isFalse();
    }

    @Test
    void aStreamedChatIsChargedWhatTheSameAnswerWholeIs() {
        String stream = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                + "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"content\":\"Hi!\"},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
                + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                + "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\"choices\":[],\"usage\":"
                + CHAT_USAGE + "}\n\ndata: [DONE]\n\n";
        String streamed = CHAT_REQUEST.replace("{\"model\"", "{\"stream\":true,\"model\"");

        UsageRecord injected = bill("/v1/chat/completions", streamed, "text/event-stream", stream);
        UsageRecord asked = bill(
                "/v1/chat/completions",
                streamed.replace("{\"stream\"", "{\"stream_options\":{\"include_usage\":true},\"stream\""),
                "text/event-stream",
                stream);

        assertThat(injected.costNanoUsd()).isEqualTo(CHAT_COST);
        assertThat(asked.costNanoUsd()).isEqualTo(CHAT_COST);
    }

    private static final String RESPONSES_USAGE = "{\"input_tokens\":2000,\"input_tokens_details\":"
            + "{\"cached_tokens\":1024},\"output_tokens\":300,\"output_tokens_details\":{\"reasoning_tokens\":100},"
            + "\"total_tokens\":2300}";

    private static String response(String status, String usage, String tier) {
        return "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"" + status + "\","
                + "\"background\":" + !"completed".equals(status) + ",\"model\":\"gpt-4o-2024-08-06\",\"output\":[],"
                + "\"service_tier\":\"" + tier + "\",\"usage\":" + usage + "}";
    }

    @Test
    void theResponsesApiIsPricedAsChatIsWholeAndStreamed() {
        String request = "{\"model\":\"gpt-4o\",\"max_output_tokens\":500,\"input\":\"Hi\"}";
        UsageRecord whole =
                bill("/v1/responses", request, "application/json", response("completed", RESPONSES_USAGE, "default"));

        String events = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
                + "\"response\":" + response("in_progress", "null", "auto") + "}\n\n"
                + "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,"
                + "\"response\":" + response("completed", RESPONSES_USAGE, "default") + "}\n\n";
        UsageRecord streamed = bill(
                "/v1/responses",
                request.replace("{\"model\"", "{\"stream\":true,\"model\""),
                "text/event-stream",
                events);

        assertThat(whole.costNanoUsd()).isEqualTo(CHAT_COST);
        assertThat(streamed.costNanoUsd()).isEqualTo(CHAT_COST);
        assertThat(streamed.usage().reasoningTokens()).isEqualTo(100);
    }

    @Test
    void embeddingsArePricedByTheirPromptTokens() {
        UsageRecord r = bill(
                "/v1/embeddings",
                "{\"model\":\"text-embedding-3-small\",\"input\":\"Hi\"}",
                "application/json",
                "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1]}],"
                        + "\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":1000,"
                        + "\"total_tokens\":1000}}");

        assertThat(r.usage().inputTokens()).isEqualTo(1000);
        assertThat(r.usage().outputTokens()).isZero();
        assertThat(r.costNanoUsd()).isEqualTo(1000 * 20L); // $0.02 per million
    }

    @Test
    void anErrorAnswerChargesNothing() {
        UsageRecord r = bill(
                "/v1/chat/completions",
                CHAT_REQUEST,
                aResponse()
                        .withStatus(400)
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}"));

        assertThat(r.costNanoUsd()).isZero();
    }

    @Test
    void anAnswerServedOnThePriorityTierIsPricedAtPriorityPricesAndFlexAtHalf() {
        // gpt-4o on Priority: $4.25 input, $2.125 cached input, $17.00 output per million tokens.
        UsageRecord priority = bill("/v1/chat/completions", CHAT_REQUEST, "application/json", chat("priority"));
        // Flex is billed at the Batch API's rates: half of Standard.
        UsageRecord flex = bill("/v1/chat/completions", CHAT_REQUEST, "application/json", chat("flex"));

        assertThat(priority.costNanoUsd()).isEqualTo(976 * 4_250L + 1024 * 2_125L + 300 * 17_000L);
        assertThat(flex.costNanoUsd()).isEqualTo(CHAT_COST / 2);
    }

    @Test
    void aStreamedResponseServedOnThePriorityTierIsPricedAtPriorityPrices() {
        String events = "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,"
                + "\"response\":" + response("completed", RESPONSES_USAGE, "priority") + "}\n\n";
        UsageRecord r = bill(
                "/v1/responses",
                "{\"stream\":true,\"model\":\"gpt-4o\",\"service_tier\":\"priority\",\"input\":\"Hi\"}",
                "text/event-stream",
                events);

        assertThat(r.costNanoUsd()).isEqualTo(976 * 4_250L + 1024 * 2_125L + 300 * 17_000L);
    }

    @Test
    void aBackgroundResponseIsChargedItsReservationNotItsInputAlone() {
        // The creating call answers "queued" with no usage; the output is made and billed later, read by a GET the
        // proxy does not meter. Charging the input alone would make every output free under a money budget.
        UsageRecord r = bill(
                "/v1/responses",
                "{\"model\":\"gpt-4o\",\"background\":true,\"max_output_tokens\":500,\"input\":\"Hi\"}",
                "application/json",
                response("queued", "null", "auto"));

        assertThat(r.estimated()).isTrue();
        assertThat(r.usage().outputTokens()).isEqualTo(500);
        assertThat(r.costNanoUsd()).isEqualTo(r.usage().inputTokens() * IN + 500 * OUT);
    }

    @Test
    void aBackgroundResponseAskedOnPriorityIsChargedItsReservationAtPriority() {
        // Queued, it names the tier asked for ("auto" when none): the one it will be served on is not known yet.
        UsageRecord r = bill(
                "/v1/responses",
                "{\"model\":\"gpt-4o\",\"background\":true,\"service_tier\":\"priority\","
                        + "\"max_output_tokens\":500,\"input\":\"Hi\"}",
                "application/json",
                response("queued", "null", "auto"));

        assertThat(r.costNanoUsd()).isEqualTo(r.usage().inputTokens() * 4_250L + 500 * 17_000L);
    }

    @Test
    void aBackgroundResponseReadAgainByGetIsNotChargedAgain() {
        UsageRecord created = bill(
                "/v1/responses",
                "{\"model\":\"gpt-4o\",\"background\":true,\"max_output_tokens\":500,\"input\":\"Hi\"}",
                "application/json",
                response("queued", "null", "auto"));
        assertThat(created.costNanoUsd()).isPositive();

        // Polled, then streamed again: the answer made was charged by the call that created it.
        String done = response("completed", RESPONSES_USAGE, "default")
                .replace("\"background\":false", "\"background\":true");
        String events = "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,"
                + "\"response\":" + done + "}\n\n";
        for (String[] read : new String[][] {
            {"/v1/responses/resp_1", "application/json", done},
            {"/v1/responses/resp_1?stream=true&starting_after=0", "text/event-stream", events}
        }) {
            upstream.server().resetAll();
            upstream.server()
                    .stubFor(any(anyUrl())
                            .willReturn(aResponse()
                                    .withStatus(200)
                                    .withHeader("Content-Type", read[1])
                                    .withBody(read[2])));
            ledger.clear();
            budgetCharged.set(0);
            String[] path = read[0].split("\\?");
            Answer a = send(
                    engine,
                    ProxyRequest.builder("GET", path[0])
                            .rawQuery(path.length > 1 ? path[1] : null)
                            .remoteAddress("10.0.0.1"));

            assertThat(a.status()).isEqualTo(200);
            assertThat(budgetCharged.get()).as(read[0]).isZero();
            assertThat(ledger)
                    .as(read[0])
                    .allSatisfy(r -> assertThat(r.costNanoUsd()).isZero());
        }
    }

    @Test
    void cancellingABackgroundResponseChargesNothingMore() {
        // The cancelled response, with what it had made: charged (its reservation) by the call that created it.
        UsageRecord r = bill(
                "/v1/responses/resp_1/cancel",
                "",
                "application/json",
                response("cancelled", RESPONSES_USAGE, "default"));

        assertThat(r.costNanoUsd()).isZero();
        assertThat(r.usage().totalTokens()).isZero();
    }

    @Test
    void aQueuedAnswerThatIsNoBackgroundResponseIsNotEstimated() {
        // A fine-tuning job (or a run, a video) answers "queued" without usage: nothing was generated by this call.
        UsageRecord r = bill(
                "/v1/fine_tuning/jobs",
                "{\"model\":\"gpt-4o-mini-2024-07-18\",\"training_file\":\"file-abc\"}",
                "application/json",
                "{\"object\":\"fine_tuning.job\",\"id\":\"ftjob-1\",\"model\":\"gpt-4o-mini-2024-07-18\","
                        + "\"status\":\"queued\",\"usage\":null}");

        assertThat(r.estimated()).isFalse();
        assertThat(r.costNanoUsd()).isZero();
    }

    @Test
    void theModelThatAnsweredIsPricedElseTheModelAskedFor() {
        // An upstream that serves gpt-4o-mini for "gpt-4o" bills gpt-4o-mini: $0.15 / $0.075 / $0.60.
        UsageRecord mini = bill(
                "/v1/chat/completions",
                CHAT_REQUEST,
                "application/json",
                chat("default").replace("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"));
        // A name the table does not know (a router's "openai/gpt-4o") leaves the price to the model asked for.
        UsageRecord routed = bill(
                "/v1/chat/completions",
                CHAT_REQUEST,
                "application/json",
                chat("default").replace("gpt-4o-2024-08-06", "openai/gpt-4o"));

        assertThat(mini.costNanoUsd()).isEqualTo(976 * 150L + 1024 * 75L + 300 * 600L);
        assertThat(routed.costNanoUsd()).isEqualTo(CHAT_COST);
    }

    @Test
    void audioTokensArePricedAtTheAudioPriceNotAsText() {
        // gpt-4o-audio-preview: text as gpt-4o ($2.50 / $10.00), audio $40.00 in and $80.00 out per million.
        String answer = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
                + "\"model\":\"gpt-4o-audio-preview-2024-12-17\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,"
                + "\"completion_tokens\":500,\"total_tokens\":1500,\"prompt_tokens_details\":{\"cached_tokens\":0,"
                + "\"audio_tokens\":800},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":400}}}";
        UsageRecord r = bill(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4o-audio-preview\",\"modalities\":[\"text\",\"audio\"],"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                "application/json",
                answer);

        assertThat(r.costNanoUsd()).isEqualTo(200 * IN + 800 * 40_000L + 100 * OUT + 400 * 80_000L);
    }
}
