package io.github.openaiproxy.integration;

import static io.github.openaiproxy.servlet.support.OpenAiFixtures.CHAT_MODEL;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.chunk;
import static io.github.openaiproxy.servlet.support.OpenAiFixtures.contentChunk;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Streams and answers are counted exactly, end to end over real HTTP: a Tomcat with the proxy in front of an
 * upstream that behaves as OpenAI does (a chat stream without {@code include_usage} has no usage member; with
 * it every chunk carries {@code "usage":null} and a last chunk with no choices carries the usage). The client
 * gets the bytes the upstream sends for its own request, the ledger row holds the upstream's numbers, and the
 * token counter is settled to them.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MeteredStreamsHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String REQUEST_ID = "req_5f1e0c7d2b";
    private static final TokenUsage USAGE = new TokenUsage(19, 4, 10, 3, 0);
    private static final String USAGE_JSON = "{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0},"
            + "\"completion_tokens_details\":{\"reasoning_tokens\":3,\"audio_tokens\":0,"
            + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}";
    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]%s}";

    private final List<StubUpstream.RecordedRequest> received = new CopyOnWriteArrayList<>();
    private final InMemoryUsageLedger ledger =
            new InMemoryUsageLedger(InMemoryUsageLedger.DEFAULT_MAX_ROWS, Duration.ofDays(1), Clock.systemUTC());
    private StubUpstream upstream;
    private TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    private void start(Map<String, String> settings) {
        upstream = StubUpstream.start(this::answer);
        ProxyConfig config = ProxySettings.from(settings)
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        proxy = TomcatProxy.servlet(
                ProxyEngine.builder(config).usageLedger(ledger).build());
    }

    // --- the upstream, as OpenAI answers

    /** The chat stream OpenAI sends for a request with or without {@code stream_options.include_usage}. */
    static List<String> chatStream(boolean withUsage) {
        List<String> chunks = new ArrayList<>(List.of(
                chunk("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", null),
                contentChunk("Hello"),
                contentChunk(" there"),
                contentChunk(" friend"),
                chunk("{}", "stop")));
        List<String> events = new ArrayList<>();
        for (String c : chunks) {
            events.add("data: " + (withUsage ? c.substring(0, c.length() - 1) + ",\"usage\":null}" : c) + "\n\n");
        }
        if (withUsage) {
            events.add("data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
                    + "\"created\":1741570283,\"model\":\"" + CHAT_MODEL + "\",\"service_tier\":\"default\","
                    + "\"system_fingerprint\":\"fp_06737a9306\",\"choices\":[],\"usage\":" + USAGE_JSON + "}\n\n");
        }
        events.add("data: [DONE]\n\n");
        return events;
    }

    static List<String> responsesStream() {
        String response = "{\"id\":\"resp_67ccd2bed1ec8190\",\"object\":\"response\",\"created_at\":1741476542,"
                + "\"status\":\"%s\",\"model\":\"" + CHAT_MODEL + "\",\"output\":[],\"usage\":%s}";
        String usage = "{\"input_tokens\":19,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":10,"
                + "\"output_tokens_details\":{\"reasoning_tokens\":3},\"total_tokens\":29}";
        return List.of(
                "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                        + response.formatted("in_progress", "null") + "}\n\n",
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
                        + "\"delta\":\"Hello there\"}\n\n",
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":"
                        + response.formatted("completed", usage) + "}\n\n");
    }

    static String completion() {
        return "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion\",\"created\":1741569952,"
                + "\"model\":\"" + CHAT_MODEL + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                + "\"content\":\"Hello there friend\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":" + USAGE_JSON + ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_06737a9306\"}";
    }

    static String joined(List<String> events) {
        return String.join("", events);
    }

    private void answer(StubUpstream.Exchange ex) throws Exception {
        received.add(ex.request());
        JsonNode body = JSON.readTree(ex.request().body());
        JsonNode options = body.get("stream_options");
        if (options != null
                && (!options.isObject()
                        || (options.has("include_usage")
                                && !options.get("include_usage").isBoolean()))) {
            byte[] error = ("{\"error\":{\"message\":\"Invalid type for 'stream_options'.\",\"type\":"
                            + "\"invalid_request_error\",\"param\":\"stream_options\",\"code\":\"invalid_type\"}}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.respond(400, "application/json", error);
            return;
        }
        if (!body.path("stream").asBoolean(false)) {
            byte[] json = completion().getBytes(StandardCharsets.UTF_8);
            ex.head(
                    200,
                    "Content-Type",
                    "application/json",
                    "x-request-id",
                    REQUEST_ID,
                    "Content-Length",
                    Integer.toString(json.length));
            ex.chunk(json);
            return;
        }
        List<String> events = ex.request().target().endsWith("/responses")
                ? responsesStream()
                : chatStream(options != null
                        && options.path("include_usage").asBoolean()
                        // a compatible server that ignores stream_options
                        && !body.toString().contains("no usage"));
        ex.head(200, "Content-Type", "text/event-stream; charset=utf-8", "x-request-id", REQUEST_ID);
        boolean hold = body.toString().contains("hold on");
        if (body.toString().contains("in pieces")) {
            // The bytes as a network may cut them: 7 at a time, so "usage":null and the usage chunk are split.
            byte[] all = joined(events).getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < all.length; i += 7) {
                ex.chunk(java.util.Arrays.copyOfRange(all, i, Math.min(all.length, i + 7)));
            }
            ex.endChunks();
            return;
        }
        for (int i = 0; i < events.size(); i++) {
            if (hold && i == 4) {
                // Three pieces of text sent: keep-alive comments (a container notices a gone client when it
                // writes) until the proxy lets go of this stream.
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (!ex.awaitPeerClosed(Duration.ofMillis(50))) {
                    assertThat(System.nanoTime())
                            .as("the proxy cancelled the upstream")
                            .isLessThan(deadline);
                    ex.chunk(": ping\n\n");
                }
                return;
            }
            ex.chunk(events.get(i));
        }
        ex.endChunks();
    }

    private HttpResponse<byte[]> post(String path, String json) {
        return Http.sendForBytes(Http.request(proxy.uri(path))
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(json))
                .build());
    }

    private static String text(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    private static long remainingTokens(HttpResponse<?> r) {
        return Long.parseLong(
                r.headers().firstValue("x-ratelimit-remaining-tokens").orElseThrow());
    }

    private UsageRecord onlyRow() {
        await().atMost(WAIT).until(() -> !ledger.rows().isEmpty());
        assertThat(ledger.rows()).hasSize(1);
        return ledger.rows().get(0);
    }

    private static void assertUpstreamNumbers(UsageRecord r) {
        assertThat(r.usage()).isEqualTo(USAGE);
        assertThat(r.answeringModel()).isEqualTo(CHAT_MODEL);
        assertThat(r.upstreamRequestId()).isEqualTo(REQUEST_ID);
        assertThat(r.estimated()).isFalse();
        assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
        assertThat(r.upstreamStatus()).isEqualTo(200);
        assertThat(r.proxyStatus()).isEqualTo(200);
        assertThat(r.costNanoUsd()).isPositive();
    }

    // --- the tests

    @Test
    void aStreamWithoutIncludeUsageIsAskedForItAndTheClientGetsExactlyTheBytesItWouldHaveGot() {
        start(Map.of("policies.anonymous.tokens-per-minute", "100000"));
        String request = CHAT.formatted("Hi", ",\"stream\":true");

        HttpResponse<byte[]> first = post("/v1/chat/completions", request);

        assertThat(first.statusCode()).as(text(first)).isEqualTo(200);
        assertThat(text(first)).isEqualTo(joined(chatStream(false)));
        JsonNode sent = readJson(received.get(0).body());
        assertThat(sent.path("stream_options").path("include_usage").asBoolean())
                .as("include_usage the proxy asked for: %s", sent)
                .isTrue();
        UsageRecord r = onlyRow();
        assertUpstreamNumbers(r);
        assertThat(r.streamed()).isTrue();
        assertThat(r.route()).isEqualTo("/v1/chat/completions");
        assertThat(r.requestedModel()).isEqualTo("gpt-4o-mini");

        // Settled to the real 29 tokens: the same request's estimate is reserved again on top of them.
        long estimate = 100_000 - remainingTokens(first);
        assertThat(estimate)
                .as("the reservation was an estimate, not the usage")
                .isNotEqualTo(29);
        HttpResponse<byte[]> second = post("/v1/chat/completions", request);
        assertThat(second.statusCode()).isEqualTo(200);
        assertThat(remainingTokens(second)).isEqualTo(100_000 - 29 - estimate);
    }

    @Test
    void whatTheProxyRemovesIsFoundWhereverTheNetworkCutsTheStream() {
        start(Map.of("policies.anonymous.tokens-per-minute", "100000"));

        HttpResponse<byte[]> r = post("/v1/chat/completions", CHAT.formatted("in pieces", ",\"stream\":true"));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(text(r)).isEqualTo(joined(chatStream(false)));
        assertUpstreamNumbers(onlyRow());
    }

    @Test
    void aStreamThatEndsWithoutUsageIsRecordedAsAnEstimate() {
        start(Map.of("policies.anonymous.tokens-per-minute", "100000"));

        HttpResponse<byte[]> r = post("/v1/chat/completions", CHAT.formatted("no usage", ",\"stream\":true"));

        assertThat(text(r)).isEqualTo(joined(chatStream(false)));
        UsageRecord row = onlyRow();
        assertThat(row.estimated()).isTrue();
        assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
        assertThat(row.usage().inputTokens()).isPositive();
        assertThat(row.usage().outputTokens()).as("Hello there friend").isBetween(2L, 10L);
    }

    @Test
    void aStreamThatAskedForUsageGetsTheUsageChunk() {
        start(Map.of("policies.anonymous.tokens-per-minute", "100000"));

        HttpResponse<byte[]> r = post(
                "/v1/chat/completions",
                CHAT.formatted("Hi", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(text(r)).isEqualTo(joined(chatStream(true)));
        assertThat(readJson(received.get(0).body()).path("stream_options"))
                .isEqualTo(readJson("{\"include_usage\":true}".getBytes(StandardCharsets.UTF_8)));
        assertUpstreamNumbers(onlyRow());
    }

    @Test
    void withTheLedgerAloneTheStreamIsMeteredToo() {
        start(Map.of());
        String request = CHAT.formatted("Hi", ",\"stream\":true,\"stream_options\":{\"include_obfuscation\":false}");

        HttpResponse<byte[]> r = post("/v1/chat/completions", request);

        assertThat(text(r)).isEqualTo(joined(chatStream(false)));
        assertThat(readJson(received.get(0).body()).path("stream_options"))
                .as("the client's other stream_options are kept")
                .isEqualTo(readJson(
                        "{\"include_obfuscation\":false,\"include_usage\":true}".getBytes(StandardCharsets.UTF_8)));
        assertUpstreamNumbers(onlyRow());
    }

    @Test
    void aResponsesStreamIsCountedFromResponseCompleted() {
        start(Map.of("policies.anonymous.tokens-per-minute", "100000"));
        String request = "{\"model\":\"gpt-4o-mini\",\"input\":\"Hi\",\"stream\":true}";

        HttpResponse<byte[]> first = post("/v1/responses", request);

        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(text(first)).isEqualTo(joined(responsesStream()));
        assertThat(received.get(0).bodyText()).isEqualTo(request);
        UsageRecord r = onlyRow();
        assertUpstreamNumbers(r);
        assertThat(r.streamed()).isTrue();
        assertThat(r.route()).isEqualTo("/v1/responses");
        long estimate = 100_000 - remainingTokens(first);
        assertThat(remainingTokens(post("/v1/responses", request))).isEqualTo(100_000 - 29 - estimate);
    }

    @Test
    void aClientThatLeavesMidStreamIsRecordedAsAnEstimateAndItsLeaseIsBack() throws Exception {
        start(Map.of("policies.anonymous.concurrent-requests", "1", "policies.anonymous.tokens-per-day", "100000"));

        clientLeavesMidStream();

        // The lease is back: the one concurrent request allowed passes again.
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(post("/v1/chat/completions", CHAT.formatted("Hi", ",\"stream\":true"))
                                .statusCode())
                        .isEqualTo(200));
    }

    @Test
    void withTheLedgerAloneAClientThatLeavesIsEstimatedWithItsInputToo() throws Exception {
        start(Map.of());

        clientLeavesMidStream();
    }

    private void clientLeavesMidStream() throws Exception {
        RawClient client =
                RawClient.post(proxy.port(), "/v1/chat/completions", CHAT.formatted("hold on", ",\"stream\":true"));
        assertThat(client.readHead()).isEqualTo(200);
        List<String> events = chatStream(false);
        for (int i = 0; i < 4; i++) {
            assertThat(client.readEvent()).isEqualTo(events.get(i));
        }
        StubUpstream.Exchange exchange = upstream.awaitExchange(WAIT);
        client.close();

        assertThat(exchange.awaitPeerClosed(WAIT))
                .as("the upstream call was cancelled")
                .isTrue();
        UsageRecord r = onlyRow();
        assertThat(r.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
        assertThat(r.estimated()).isTrue();
        assertThat(r.streamed()).isTrue();
        assertThat(r.usage().inputTokens()).as("the prompt, counted").isPositive();
        assertThat(r.usage().outputTokens())
                .as("what was relayed: Hello there friend")
                .isBetween(2L, 10L);
        assertThat(r.upstreamRequestId()).isEqualTo(REQUEST_ID);
    }

    @Test
    void theSimpleRoutesStreamIsCountedAndRelayedAsTheUpstreamSentIt() {
        start(Map.of("policies.anonymous.tokens-per-minute", "100000"));

        HttpResponse<byte[]> r = post(
                "/",
                "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");

        assertThat(r.statusCode()).as(text(r)).isEqualTo(200);
        assertThat(text(r)).isEqualTo(joined(chatStream(false)));
        assertThat(readJson(received.get(0).body())
                        .path("stream_options")
                        .path("include_usage")
                        .asBoolean())
                .isTrue();
        UsageRecord row = onlyRow();
        assertUpstreamNumbers(row);
        assertThat(row.streamed()).isTrue();
        assertThat(row.route()).isEqualTo("/");
    }

    @Test
    void aWholeAnswersUsageIsRecordedAndAnOverestimateRefundedSoTheNextRequestFits() {
        // Each request reserves its prompt plus 600 tokens of 1000: the second fits only once the first is
        // settled at the 29 it used.
        start(Map.of("policies.anonymous.tokens-per-minute", "1000"));
        String request = CHAT.formatted("Hi", ",\"max_tokens\":600");

        HttpResponse<byte[]> first = post("/v1/chat/completions", request);
        HttpResponse<byte[]> second = post("/v1/chat/completions", request);

        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(text(first)).isEqualTo(completion());
        assertThat(second.statusCode()).as(text(second)).isEqualTo(200);
        long estimate = 1000 - remainingTokens(first);
        assertThat(estimate).isGreaterThan(600);
        assertThat(remainingTokens(second)).isEqualTo(1000 - 29 - estimate);
        await().atMost(WAIT).until(() -> ledger.rows().size() == 2);
        assertThat(ledger.rows()).allSatisfy(row -> {
            assertUpstreamNumbers(row);
            assertThat(row.streamed()).isFalse();
        });
        assertThat(received).hasSize(2);
    }

    @Test
    void badInputIsRefusedOrPassedOnNeverA5xxAndTheRequestCounterStaysRight() {
        start(Map.of("policies.anonymous.requests-per-minute", "20", "policies.anonymous.tokens-per-minute", "5000"));
        List<String> bad = List.of(
                CHAT.formatted("Hi", ",\"stream\":true,\"stream_options\":\"yes\""),
                CHAT.formatted("Hi", ",\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}"),
                CHAT.formatted("Hi", ",\"max_tokens\":1000000000000"),
                CHAT.formatted("Hi", ",\"max_tokens\":-1"),
                CHAT.formatted("Hi", ",\"max_completion_tokens\":-99999999999999999999"),
                "{\"model\":\"" + "m".repeat(10_240) + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                        + "\"stream\":true,\"stream_options\":[true]}");

        for (String body : bad) {
            int before = received.size();
            HttpResponse<byte[]> r = post("/v1/chat/completions", body);
            assertThat(r.statusCode())
                    .as("%s -> %s", body.length() > 200 ? "10 KB model" : body, text(r))
                    .isBetween(200, 499);
            if (r.statusCode() == 400 && received.size() == before) {
                assertThat(readJson(r.body()).path("error").path("type").asText())
                        .isEqualTo("invalid_request_error");
            }
        }
        int reached = received.size();

        // Every call that reached the upstream took one request; those refused before it took none.
        HttpResponse<byte[]> valid = post("/v1/chat/completions", CHAT.formatted("Hi", ""));
        assertThat(valid.statusCode()).isEqualTo(200);
        assertThat(valid.headers().firstValue("x-ratelimit-remaining-requests"))
                .contains(Integer.toString(20 - reached - 1));
        await().atMost(WAIT).until(() -> ledger.rows().size() == reached + 1);
        assertThat(ledger.rows())
                .allSatisfy(row -> assertThat(row.requestedModel().length()).isLessThanOrEqualTo(256));
    }

    private static JsonNode readJson(byte[] bytes) {
        try {
            return JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            throw new AssertionError(new String(bytes, StandardCharsets.UTF_8), e);
        }
    }
}
