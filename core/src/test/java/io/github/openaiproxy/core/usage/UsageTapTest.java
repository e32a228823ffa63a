package io.github.openaiproxy.core.usage;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.io.IOException;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The usage tap over real bytes: streams built the way OpenAI sends them (every chunk carries
 * {@code "usage":null} once {@code include_usage} is on, then one usage-only chunk), whole JSON answers split at
 * awkward places, cancels and failures.
 */
class UsageTapTest {
    private static final String MODEL = "gpt-4o-mini-2024-07-18";
    private static final HttpHeaders SSE = HttpHeaders.of(
            Map.of("content-type", List.of("text/event-stream"), "x-request-id", List.of("req_abc123")),
            (a, b) -> true);
    private static final HttpHeaders JSON = HttpHeaders.of(
            Map.of("content-type", List.of("application/json"), "x-request-id", List.of("req_json")), (a, b) -> true);
    private static final String USAGE = "{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":3,\"audio_tokens\":0},"
            + "\"completion_tokens_details\":{\"reasoning_tokens\":2,\"audio_tokens\":0,"
            + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}";
    private static final List<String> DELTAS = List.of("Hello", "! How can I", " help \\\"you\\\" today? é😀");

    /** A chat completion stream as OpenAI sends it, with or without {@code stream_options.include_usage}. */
    static List<String> chatStream(boolean includeUsage) {
        String head = "{\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
                + "\"model\":\"" + MODEL + "\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_06737a9306\","
                + "\"choices\":[";
        String tail = includeUsage ? "],\"usage\":null}\n\n" : "]}\n\n";
        List<String> events = new ArrayList<>();
        events.add("data: " + head
                + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                + "\"logprobs\":null,\"finish_reason\":null}" + tail);
        for (String d : DELTAS) {
            events.add("data: " + head + "{\"index\":0,\"delta\":{\"content\":\"" + d
                    + "\"},\"logprobs\":null,\"finish_reason\":null}" + tail);
        }
        events.add("data: " + head + "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}" + tail);
        if (includeUsage) {
            events.add("data: " + head + "],\"usage\":" + USAGE + "}\n\n");
        }
        events.add("data: [DONE]\n\n");
        return events;
    }

    private static ProxyResponse sse(Flow.Publisher<List<ByteBuffer>> body) {
        return new ProxyResponse(200, SSE, body, true);
    }

    private static UsageTap.Spec spec(boolean injected) {
        return new UsageTap.Spec("gpt-4o-mini", injected, System.nanoTime(), TokenCounter.standard(), 42);
    }

    private static List<String> texts(List<byte[]> items) {
        return items.stream().map(b -> new String(b, StandardCharsets.UTF_8)).toList();
    }

    /** Runs a tapped body to its end; returns what the client got. */
    private static List<String> relay(ProxyResponse tapped) {
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        tapped.body().subscribe(client);
        assertThat(client.terminated()).isDone();
        assertThat(client.demandViolations()).isZero();
        return texts(client.items());
    }

    @Test
    void injectedUsageIsTakenOutSoTheClientGetsExactlyTheStreamItWouldHaveGot() {
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(chatStream(true))), spec(true), done::add));

        assertThat(got).containsExactlyElementsOf(chatStream(false));
        assertThat(String.join("", got)).isEqualTo(String.join("", chatStream(false)));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
            assertThat(m.estimated()).isFalse();
            assertThat(m.answeringModel()).isEqualTo(MODEL);
            assertThat(m.upstreamRequestId()).isEqualTo("req_abc123");
            assertThat(m.status()).isEqualTo(200);
            assertThat(m.streamed()).isTrue();
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
            assertThat(m.firstEventNanos()).isPositive().isLessThanOrEqualTo(m.endNanos());
        });
    }

    @Test
    void theSameFromReadOnlyBuffersAndEventsSplitOverSeveralBuffers() {
        TestPublisher upstream = new TestPublisher();
        List<Metered> done = new CopyOnWriteArrayList<>();
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        UsageTap.tap(sse(upstream), spec(true), done::add).body().subscribe(client);
        for (String e : chatStream(true)) {
            byte[] b = e.getBytes(StandardCharsets.UTF_8);
            int half = b.length / 2;
            upstream.emit(java.util.Arrays.copyOf(b, half), java.util.Arrays.copyOfRange(b, half, b.length));
        }
        upstream.complete();
        assertThat(texts(client.items())).containsExactlyElementsOf(chatStream(false));
        assertThat(done).singleElement().extracting(Metered::usage).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
    }

    @Test
    void theDroppedChunkIsReplacedByOneMoreUpstreamRequestSoDemandStaysExact() {
        List<String> upstreamEvents = chatStream(true);
        int clientEvents = chatStream(false).size();
        TestPublisher upstream = new TestPublisher();
        TestSubscriber client = new TestSubscriber(0);
        UsageTap.tap(sse(upstream), spec(true), m -> {}).body().subscribe(client);
        client.request(clientEvents);
        for (String e : upstreamEvents) {
            upstream.emit(e); // fails when the tap asked for fewer than it must
        }
        upstream.complete();
        assertThat(client.items()).hasSize(clientEvents);
        assertThat(client.demandViolations()).isZero();
        assertThat(upstream.totalRequested()).isEqualTo(clientEvents + 1);
        assertThat(upstream.outstanding()).isZero();
    }

    @Test
    void azuresFirstChunkNamingTheModelEmptyDoesNotHideTheModelThatAnswered() {
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> events = List.of(
                "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
                        + "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"created\":1,\"id\":\"c\","
                        + "\"model\":\"" + MODEL + "\",\"object\":\"chat.completion.chunk\"}\n\n",
                "data: [DONE]\n\n");

        relay(UsageTap.tap(sse(new HeapEvents(events)), spec(false), done::add));

        assertThat(done).singleElement().extracting(Metered::answeringModel).isEqualTo(MODEL);
    }

    @Test
    void aClientThatAskedForUsageGetsTheUsageChunkUnchanged() {
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(chatStream(true))), spec(false), done::add));

        assertThat(got).containsExactlyElementsOf(chatStream(true));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
            assertThat(m.estimated()).isFalse();
        });
    }

    @Test
    void anOddTotalInAStreamsUsageIsPassedOverNotReadAsUsage() {
        // A total_tokens that is an object must be skipped whole: its members are not the usage's.
        List<String> events = List.of(
                "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"" + MODEL + "\",\"choices\":[],"
                        + "\"usage\":{\"total_tokens\":{\"prompt_tokens\":999},\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
                "data: [DONE]\n\n");
        List<Metered> done = new CopyOnWriteArrayList<>();
        relay(UsageTap.tap(sse(new HeapEvents(events)), spec(false), done::add));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(3, 0, 4, 0, 0));
            assertThat(m.estimated()).isFalse();
        });
    }

    @Test
    void aStreamThatEndsWithoutUsageIsEstimatedFromWhatWasRelayed() {
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(chatStream(false))), spec(false), done::add));

        assertThat(got).containsExactlyElementsOf(chatStream(false));
        String text = "Hello! How can I help \"you\" today? é😀";
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.estimated()).isTrue();
            assertThat(m.usage())
                    .isEqualTo(new TokenUsage(42, 0, TokenCounter.standard().tokens(MODEL, text), 0, 0));
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
        });
    }

    @Test
    void aClientThatGoesAwayGetsAnEstimateFlaggedAndTheUpstreamIsCancelled() {
        TestPublisher upstream = new TestPublisher();
        List<Metered> done = new CopyOnWriteArrayList<>();
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        UsageTap.tap(sse(upstream), spec(true), done::add).body().subscribe(client);
        List<String> events = chatStream(true);
        upstream.emit(events.get(0));
        upstream.emit(events.get(1));
        upstream.emit(events.get(2));
        client.cancel();
        upstream.complete(); // a late end after the cancel changes nothing

        assertThat(upstream.isCancelled()).isTrue();
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
            assertThat(m.estimated()).isTrue();
            assertThat(m.usage().inputTokens()).isEqualTo(42);
            assertThat(m.usage().outputTokens())
                    .isEqualTo(TokenCounter.standard().tokens(MODEL, "Hello! How can I"))
                    .isPositive();
            assertThat(m.answeringModel()).isEqualTo(MODEL);
        });
    }

    @Test
    void anUpstreamFailureMidStreamIsUpstreamFailed() {
        TestPublisher upstream = new TestPublisher();
        List<Metered> done = new CopyOnWriteArrayList<>();
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        UsageTap.tap(sse(upstream), spec(true), done::add).body().subscribe(client);
        upstream.emit(chatStream(true).get(1));
        upstream.fail(new IOException("broken"));

        assertThat(client.error()).hasMessage("broken");
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
            assertThat(m.estimated()).isTrue();
            assertThat(m.usage().outputTokens())
                    .isEqualTo(TokenCounter.standard().tokens(MODEL, "Hello"));
        });
    }

    @Test
    void anErrorEventInTheStreamIsUpstreamFailed() {
        List<String> events = List.of(
                chatStream(false).get(1),
                "data: {\"error\":{\"message\":\"The upstream connection was lost\",\"type\":\"server_error\"}}\n\n");
        List<Metered> done = new CopyOnWriteArrayList<>();
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(events)), spec(false), done::add)))
                .containsExactlyElementsOf(events);
        assertThat(done).singleElement().extracting(Metered::outcome).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
    }

    @Test
    void anErrorStatusUsedNothing() {
        byte[] body =
                "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\",\"usage\":{\"prompt_tokens\":5}}}"
                        .getBytes(StandardCharsets.UTF_8);
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(ProxyResponse.of(400, JSON, body), spec(true), done::add));
        assertThat(got).containsExactly(new String(body, StandardCharsets.UTF_8));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED);
            assertThat(m.usage()).isEqualTo(TokenUsage.NONE);
            assertThat(m.estimated()).isFalse();
            assertThat(m.status()).isEqualTo(400);
            assertThat(m.upstreamRequestId()).isEqualTo("req_json");
        });
    }

    @Test
    void responsesStreamsTakeTheUsageOfResponseCompleted() {
        String model = "gpt-4.1-2025-04-14";
        String resp =
                "{\"id\":\"resp_67c\",\"object\":\"response\",\"created_at\":1741290958,\"model\":\"" + model + "\"";
        List<String> events = List.of(
                "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                        + resp + ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n",
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":3,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
                        + "\"delta\":\"Hi there\"}\n\n",
                "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":4,"
                        + "\"text\":\"Hi there\"}\n\n",
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":5,\"response\":"
                        + resp + ",\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"content\":"
                        + "[{\"type\":\"output_text\",\"text\":\"Hi there\"}]}],\"usage\":{\"input_tokens\":36,"
                        + "\"input_tokens_details\":{\"cached_tokens\":10},\"output_tokens\":87,"
                        + "\"output_tokens_details\":{\"reasoning_tokens\":5},\"total_tokens\":123}}}\n\n");
        List<Metered> done = new CopyOnWriteArrayList<>();
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(events)), spec(false), done::add)))
                .containsExactlyElementsOf(events);
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(36, 10, 87, 5, 0));
            assertThat(m.estimated()).isFalse();
            assertThat(m.answeringModel()).isEqualTo(model);
        });

        // Cancelled after the delta: the estimate counts the delta, not the 'done' text or the output item.
        TestPublisher upstream = new TestPublisher();
        List<Metered> cancelled = new CopyOnWriteArrayList<>();
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        UsageTap.tap(sse(upstream), spec(false), cancelled::add).body().subscribe(client);
        upstream.emit(events.get(0));
        upstream.emit(events.get(1));
        upstream.emit(events.get(2));
        client.cancel();
        assertThat(cancelled).singleElement().satisfies(m -> {
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
            assertThat(m.usage().outputTokens())
                    .isEqualTo(TokenCounter.standard().tokens(model, "Hi there"));
            assertThat(m.answeringModel()).isEqualTo(model);
        });
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                // not the last member: cut with the comma before it
                "{\"id\":\"c\",\"choices\":[],\"usage\":null,\"obfuscation\":\"x1\"} | {\"id\":\"c\",\"choices\":[],\"obfuscation\":\"x1\"}",
                // the first member: cut with the comma after it
                "{\"usage\":null,\"id\":\"c\",\"choices\":[{}]} | {\"id\":\"c\",\"choices\":[{}]}",
                // with spaces: the comma and the member go, the spaces around them stay
                "{\"id\":\"c\", \"choices\":[{}] , \"usage\" : null } | {\"id\":\"c\", \"choices\":[{}]  }",
                // nested: not the member the proxy added; left alone
                "{\"id\":\"c\",\"choices\":[{\"delta\":{\"usage\":null}}]} | {\"id\":\"c\",\"choices\":[{\"delta\":{\"usage\":null}}]}",
                // inside a string: left alone
                "{\"id\":\"c,\\\"usage\\\":null\",\"choices\":[{}]} | {\"id\":\"c,\\\"usage\\\":null\",\"choices\":[{}]}",
                // not JSON: left alone
                "{\"id\":\"c\",\"choices\":[{}],\"usage\":null | {\"id\":\"c\",\"choices\":[{}],\"usage\":null",
                "{\"id\":\"c\",\"choices\":[{}],\"usage\":null}} | {\"id\":\"c\",\"choices\":[{}],\"usage\":null}}"
            })
    void onlyTheTopLevelUsageNullMemberIsCut(String upstreamJson, String clientJson) {
        List<String> got = relay(
                UsageTap.tap(sse(new HeapEvents(List.of("data: " + upstreamJson + "\n\n"))), spec(true), m -> {}));
        assertThat(got).containsExactly("data: " + clientJson + "\n\n");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void anEventInsideALargerArrayIsCutAtTheRightPlace(boolean slice) {
        String event = "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\n";
        byte[] e = event.getBytes(StandardCharsets.UTF_8);
        byte[] big = new byte[e.length + 40];
        java.util.Arrays.fill(big, (byte) '#');
        System.arraycopy(e, 0, big, 17, e.length);
        ByteBuffer b = ByteBuffer.wrap(big, 17, e.length);
        if (slice) {
            b = b.slice(); // array offset 17, position 0
        }
        List<String> got = relay(
                UsageTap.tap(sse(io.github.openaiproxy.core.flow.Publishers.just(List.of(b))), spec(true), m -> {}));
        assertThat(got).containsExactly(event.replace(",\"usage\":null", ""));
    }

    @Test
    void aChunkLargerThanTheWalkedSizeLosesTheInjectedUsageNullToo() {
        // A compatible server may send a whole tool call or answer in one chunk: the client still gets its bytes.
        String content = "x".repeat(StreamMeter.MAX_WALKED_EVENT + 1000);
        String upstream = "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
                + content + "\"},\"finish_reason\":null}],\"usage\":null}\n\n";
        String usageChunk = "data: {\"id\":\"c\",\"choices\":[],\"usage\":" + USAGE + "}\n\n";
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(
                sse(new HeapEvents(List.of(upstream, usageChunk, "data: [DONE]\n\n"))), spec(true), done::add));

        assertThat(got).containsExactly(upstream.replace(",\"usage\":null", ""), "data: [DONE]\n\n");
        assertThat(done).singleElement().extracting(Metered::usage).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
    }

    @Test
    void aStreamStartingWithAByteOrderMarkLosesTheInjectedUsageNullOfItsFirstChunkToo() {
        // An SSE client skips a leading BOM, so the first chunk is data like the others: its "usage":null goes too.
        List<String> upstream = new ArrayList<>(chatStream(true));
        List<String> expected = new ArrayList<>(chatStream(false));
        upstream.set(0, "\ufeff" + upstream.get(0));
        expected.set(0, "\ufeff" + expected.get(0));
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(true), done::add));

        assertThat(got).containsExactlyElementsOf(expected);
        assertThat(done).singleElement().extracting(Metered::usage).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
    }

    @Test
    void aByteOrderMarkOnlyCountsAtTheStartOfTheStream() {
        // Later, a BOM makes its line a field a client ignores: that event's bytes are not data, left alone.
        List<String> events = List.of(
                "data: {\"id\":\"c\",\"choices\":[{}],\"usage\":null}\n\n",
                "\ufeffdata: {\"id\":\"c\",\"choices\":[{}],\"usage\":null}\n\n");
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(events)), spec(true), m -> {})))
                .containsExactly("data: {\"id\":\"c\",\"choices\":[{}]}\n\n", events.get(1));
    }

    @Test
    void aUsageChunkOverSeveralDataLinesIsDroppedToo() {
        // SSE lets a server spread one chunk's JSON over several data lines: the usage chunk the proxy asked for is
        // still not the client's.
        String usageChunk = "data: {\"id\":\"c\",\"choices\":[],\ndata: \"usage\":" + USAGE + "}\n\n";
        List<String> upstream = List.of("data: {\"id\":\"c\",\"choices\":[{}]}\n\n", usageChunk, "data: [DONE]\n\n");
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(true), done::add));

        assertThat(got).containsExactly(upstream.get(0), upstream.get(2));
        assertThat(done).singleElement().extracting(Metered::usage).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(false), m -> {})))
                .as("a client that asked for usage gets it")
                .containsExactlyElementsOf(upstream);
    }

    @Test
    void spacesBeforeTheChunksObjectDoNotHideItsInjectedUsageNull() {
        // "data:" takes one space off the value; a client's JSON parser skips the others.
        String upstream = "data:   {\"id\":\"c\",\"choices\":[{}],\"usage\":null}\n\n";
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(List.of(upstream))), spec(true), m -> {})))
                .containsExactly("data:   {\"id\":\"c\",\"choices\":[{}]}\n\n");
    }

    @Test
    void theBlankLinesADroppedUsageChunkStartsWithAreKept() {
        // Events as the relay cuts them when a read ends between the CR and LF of "\r\n" after a bare-CR line:
        // the LF that ends the chunk before the usage chunk travels with the usage chunk.
        List<String> upstream = List.of(
                "data: {\"id\":\"c\",\"choices\":[{}],\"usage\":null}\r\r",
                "\ndata: {\"id\":\"c\",\"choices\":[],\"usage\":" + USAGE + "}\r\r",
                "\ndata: [DONE]\r\r\n");
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(true), done::add));

        assertThat(String.join("", got)).isEqualTo("data: {\"id\":\"c\",\"choices\":[{}]}\r\r\ndata: [DONE]\r\r\n");
        assertThat(done).singleElement().extracting(Metered::usage).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
    }

    @Test
    void theLineFeedThatEndsADroppedUsageChunkGoesWithIt() {
        // The same split one event later: the usage chunk ends at its CR, its LF comes with [DONE].
        List<String> upstream = List.of(
                "data: {\"id\":\"c\",\"choices\":[{}],\"usage\":null}\r\r\n",
                "data: {\"id\":\"c\",\"choices\":[],\"usage\":" + USAGE + "}\r\r",
                "\n",
                "data: [DONE]\r\r\n");
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(true), m -> {}));

        assertThat(String.join("", got)).isEqualTo("data: {\"id\":\"c\",\"choices\":[{}]}\r\r\ndata: [DONE]\r\r\n");
        List<String> withLf = List.of(upstream.get(0), upstream.get(1), "\n" + upstream.get(3));
        assertThat(String.join("", relay(UsageTap.tap(sse(new HeapEvents(withLf)), spec(true), m -> {}))))
                .isEqualTo(String.join("", got));
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(false), m -> {})))
                .as("nothing dropped, nothing taken")
                .containsExactlyElementsOf(upstream);
    }

    @Test
    void theBlankLinesAfterADroppedUsageChunkGoWithItThoseBeforeStay() {
        // Stray blank lines after each chunk: the relay hands them over at the start of the next event.
        List<String> upstream = List.of(
                "data: {\"id\":\"c\",\"choices\":[{}],\"usage\":null}\n\n",
                "\ndata: {\"id\":\"c\",\"choices\":[],\"usage\":" + USAGE + "}\n\n",
                "\r\n\ndata: [DONE]\n\n",
                "\n");
        List<String> got = relay(UsageTap.tap(sse(new HeapEvents(upstream)), spec(true), m -> {}));

        assertThat(String.join("", got)).isEqualTo("data: {\"id\":\"c\",\"choices\":[{}]}\n\n\ndata: [DONE]\n\n\n");
    }

    @Test
    void otherEventsPassUntouched() {
        List<String> events = List.of(": keep-alive\n\n", "event: ping\ndata: {}\n\n", "data: not json\n\n", "\n\n");
        assertThat(relay(UsageTap.tap(sse(new HeapEvents(events)), spec(true), m -> {})))
                .containsExactlyElementsOf(events);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 64, 100_000})
    void aJsonAnswerGivesItsUsageCachedAndReasoningTokensIncluded(int split) {
        String body = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"" + MODEL + "\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"{\\\"usage\\\":1, \\\"model\\\":\\\"x\\\"}\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\": " + USAGE + ",\"system_fingerprint\":\"fp_1\"}";
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(json(body, split), spec(false), done::add));
        assertThat(String.join("", got)).isEqualTo(body);
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(19, 3, 10, 2, 0));
            assertThat(m.estimated()).isFalse();
            assertThat(m.answeringModel()).isEqualTo(MODEL);
            assertThat(m.streamed()).isFalse();
            assertThat(m.firstEventNanos()).isEqualTo(-1);
            assertThat(m.upstreamRequestId()).isEqualTo("req_json");
        });
    }

    @Test
    void anEmbeddingsAnswerCountsNoImages() {
        String body = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1,-0.2]}],"
                + "\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}";
        List<Metered> done = new CopyOnWriteArrayList<>();
        relay(UsageTap.tap(json(body, 5), spec(false), done::add));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(8, 0, 0, 0, 0));
            assertThat(m.answeringModel()).isEqualTo("text-embedding-3-small");
        });
    }

    @Test
    void anImageAnswerCountsItsImages() {
        String body = "{\"created\":1713833628,\"data\":[{\"url\":\"https://img/1.png\",\"revised_prompt\":\"a cat\"},"
                + "{\"url\":\"https://img/2.png\"}]}";
        List<Metered> done = new CopyOnWriteArrayList<>();
        relay(UsageTap.tap(json(body, 9), new UsageTap.Spec("dall-e-3", false, 0, TokenCounter.standard()), done::add));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(new TokenUsage(0, 0, 0, 0, 2));
            assertThat(m.estimated()).isFalse();
        });
    }

    @Test
    void aLargeBase64ImageAnswerIsReadWithoutHoldingIt() {
        String b64 = java.util.Base64.getEncoder().encodeToString(new byte[3 << 20]);
        String body = "{\"created\":1,\"data\":[{\"b64_json\":\"" + b64 + "\"}],\"usage\":{\"total_tokens\":1106,"
                + "\"input_tokens\":50,\"output_tokens\":1056,\"input_tokens_details\":{\"text_tokens\":50,\"image_tokens\":0}}}";
        List<Metered> done = new CopyOnWriteArrayList<>();
        List<String> got = relay(UsageTap.tap(json(body, 64 * 1024), spec(false), done::add));
        assertThat(String.join("", got)).hasSize(body.length());
        assertThat(done).singleElement().extracting(Metered::usage).isEqualTo(new TokenUsage(50, 0, 1056, 0, 1));
    }

    @Test
    void aJsonAnswerCancelledBeforeItsUsageIsEstimated() {
        TestPublisher upstream = new TestPublisher();
        List<Metered> done = new CopyOnWriteArrayList<>();
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        UsageTap.tap(new ProxyResponse(200, JSON, upstream, false), spec(false), done::add)
                .body()
                .subscribe(client);
        upstream.emit("{\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o\",\"choices\":[");
        client.cancel();
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.outcome()).isEqualTo(UsageRecord.Outcome.CLIENT_GONE);
            assertThat(m.estimated()).isTrue();
            assertThat(m.usage()).isEqualTo(new TokenUsage(42, 0, 0, 0, 0));
        });
    }

    @Test
    void aUsageLargerThanTheCaptureLimitIsNotReadButTheOneJustUnderIs() {
        // The copy of usage stops at JsonSkim.MAX_CAPTURE bytes: beyond it the answer is estimated, never held.
        String usage = "{\"prompt_tokens\":7,\"completion_tokens\":5,\"note\":\"";
        String over = usage + "x".repeat(JsonSkim.MAX_CAPTURE) + "\"}";
        String under = usage + "x".repeat(JsonSkim.MAX_CAPTURE - usage.length() - 2) + "\"}";
        assertThat(under).hasSize(JsonSkim.MAX_CAPTURE);
        for (String u : List.of(over, under)) {
            String body = "{\"model\":\"" + MODEL + "\",\"usage\":" + u + "}";
            List<Metered> done = new CopyOnWriteArrayList<>();
            List<String> got = relay(UsageTap.tap(json(body, 1000), spec(false), done::add));
            assertThat(String.join("", got)).isEqualTo(body);
            assertThat(done).singleElement().satisfies(m -> {
                if (u == over) {
                    assertThat(m.estimated()).isTrue();
                    assertThat(m.usage()).isEqualTo(new TokenUsage(42, 0, 0, 0, 0));
                } else {
                    assertThat(m.estimated()).isFalse();
                    assertThat(m.usage()).isEqualTo(new TokenUsage(7, 0, 5, 0, 0));
                }
                assertThat(m.answeringModel()).isEqualTo(MODEL);
            });
        }
    }

    /** The answering model as JSON reads it, whether the skim takes the plain path or the parser's. */
    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            ignoreLeadingAndTrailingWhitespace = false,
            value = {
                "\"gpt-4o-mini\"|gpt-4o-mini",
                "   \"gpt-4o\"  |gpt-4o",
                "\"gpt\\u002d4o\"|gpt-4o",
                "\"a\\\"b\"|a\"b",
                "\"modèle-é\"|modèle-é",
                "\"\"|''",
                "\"x|",
                "42|",
                "null|",
                "[\"gpt-4o\"]|"
            })
    void theAnsweringModelIsReadAsJsonReadsIt(String value, String expected) {
        String body = "{\"model\":" + value + ",\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5}}";
        for (int split : new int[] {1, 1000}) {
            List<Metered> done = new CopyOnWriteArrayList<>();
            relay(UsageTap.tap(json(body, split), spec(false), done::add));
            assertThat(done)
                    .singleElement()
                    .satisfies(m -> assertThat(m.answeringModel()).isEqualTo(expected));
        }
    }

    @Test
    void aHostileUsageIsReadAsZeroNeverAsAFailure() {
        String body = "{\"model\":{\"x\":1},\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1e400,"
                + "\"prompt_tokens_details\":\"many\",\"completion_tokens_details\":{\"reasoning_tokens\":99999999999999999999999}}}";
        List<Metered> done = new CopyOnWriteArrayList<>();
        relay(UsageTap.tap(json(body, 3), spec(false), done::add));
        assertThat(done).singleElement().satisfies(m -> {
            assertThat(m.usage()).isEqualTo(TokenUsage.NONE);
            assertThat(m.answeringModel()).isNull();
        });
    }

    private static ProxyResponse json(String body, int split) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        List<String> parts = new ArrayList<>();
        List<byte[]> chunks = new ArrayList<>();
        for (int i = 0; i < b.length; i += split) {
            chunks.add(java.util.Arrays.copyOfRange(b, i, Math.min(b.length, i + split)));
        }
        Flow.Publisher<List<ByteBuffer>> pub = s -> {
            TestPublisher p = new TestPublisher();
            p.subscribe(new Flow.Subscriber<List<ByteBuffer>>() {
                @Override
                public void onSubscribe(Flow.Subscription sub) {
                    s.onSubscribe(sub);
                }

                @Override
                public void onNext(List<ByteBuffer> item) {
                    s.onNext(item);
                }

                @Override
                public void onError(Throwable t) {
                    s.onError(t);
                }

                @Override
                public void onComplete() {
                    s.onComplete();
                }
            });
            for (byte[] c : chunks) {
                p.emit(c);
            }
            p.complete();
        };
        assertThat(parts).isEmpty();
        return new ProxyResponse(200, JSON, pub, false);
    }

    @Test
    void askForUsageSetsIncludeUsageOnStreamedChatsOnly() throws Exception {
        assertAsk(
                "{\"stream\":true,\"messages\":[]}",
                true,
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
        assertAsk(
                "{\"stream\":true,\"messages\":[],\"stream_options\":null}",
                true,
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
        assertAsk(
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_obfuscation\":false}}",
                true,
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_obfuscation\":false,\"include_usage\":true}}");
        assertAsk(
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":false}}",
                true,
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
        // asked for by the client: nothing to do
        assertUnchanged("{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
        // not a streamed chat
        assertUnchanged("{\"stream\":false,\"messages\":[]}");
        assertUnchanged("{\"messages\":[]}");
        assertUnchanged("{\"stream\":\"true\",\"messages\":[]}");
        assertUnchanged("{\"stream\":true,\"input\":\"hi\"}");
        assertThat(UsageTap.askForUsage(null)).isFalse();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"stream\":true,\"messages\":[],\"stream_options\":\"yes\"}",
                "{\"stream\":true,\"messages\":[],\"stream_options\":[true]}",
                "{\"stream\":true,\"messages\":[],\"stream_options\":42}",
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":\"true\"}}",
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":1}}",
                "{\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":{}}}"
            })
    void aMalformedStreamOptionsIsLeftForTheUpstreamToRefuse(String body) throws Exception {
        assertUnchanged(body);
    }

    private static void assertAsk(String body, boolean asked, String after) throws Exception {
        ObjectNode node = (ObjectNode) Json.parse(body.getBytes(StandardCharsets.UTF_8));
        assertThat(UsageTap.askForUsage(node)).isEqualTo(asked);
        assertThat(node).isEqualTo(Json.parse(after.getBytes(StandardCharsets.UTF_8)));
    }

    private static void assertUnchanged(String body) throws Exception {
        assertAsk(body, false, body);
    }
}
