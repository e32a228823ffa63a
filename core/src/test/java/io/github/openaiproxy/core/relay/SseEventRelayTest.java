package io.github.openaiproxy.core.relay;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SseEventRelayTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int DEFAULT_LIMIT = 16 * 1024 * 1024;

    private final TestPublisher upstream = new TestPublisher();

    @ParameterizedTest
    @EnumSource(SseCase.class)
    void publishesEachEventAsItsOwnItem(SseCase c) {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, Long.MAX_VALUE);

        for (byte[] read : c.readBytes()) {
            upstream.emit(read);
        }
        upstream.complete();

        assertThat(client.texts()).isEqualTo(c.events);
        assertThat(client.completions()).isEqualTo(1);
        assertThat(client.error()).isNull();
    }

    @Test
    void eventSplitAcrossItemBuffersIsReassembled() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, Long.MAX_VALUE);

        upstream.emit(utf8("data: {\"a\""), utf8(":1}\n"), utf8("\ndata: x"));
        upstream.emit("\n\n");
        upstream.complete();

        assertThat(client.texts()).containsExactly("data: {\"a\":1}\n\n", "data: x\n\n");
    }

    @Test
    void twoMebibyteDataLineIsRelayedAsOneEvent() {
        byte[] event = new byte[2 * 1024 * 1024 + 8];
        Arrays.fill(event, (byte) 'x');
        System.arraycopy(utf8("data: "), 0, event, 0, 6);
        event[event.length - 2] = '\n';
        event[event.length - 1] = '\n';
        TestSubscriber client = subscribe(DEFAULT_LIMIT, Long.MAX_VALUE);

        for (int i = 0; i < event.length; i += 32 * 1024) {
            upstream.emit(Arrays.copyOfRange(event, i, Math.min(event.length, i + 32 * 1024)));
        }
        upstream.complete();

        assertThat(client.items()).hasSize(1);
        assertThat(client.items().get(0)).isEqualTo(event);
        assertThat(client.isCompleted()).isTrue();
    }

    @Test
    void upstreamErrorMidStreamDropsThePartialEventAndEndsWithOneErrorEvent() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, Long.MAX_VALUE);

        upstream.emit("data: {\"n\":1}\n\ndata: {\"n\":");
        upstream.fail(new IOException("connection reset"));

        List<String> items = client.texts();
        assertThat(items).hasSize(2);
        assertThat(items.get(0)).isEqualTo("data: {\"n\":1}\n\n");
        assertThat(items.get(1)).startsWith("data: {").endsWith("}\n\n");
        JsonNode error = errorOf(items.get(1));
        assertThat(error.path("message").asText()).isNotBlank();
        assertThat(error.path("type").asText()).isEqualTo("server_error");
        assertThat(error.path("code").asText()).isEqualTo("upstream_disconnected");
        assertThat(client.completions())
                .as("the stream completes, it does not fail")
                .isEqualTo(1);
        assertThat(client.error()).isNull();
    }

    @Test
    void upstreamErrorNeverInventsDone() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, Long.MAX_VALUE);

        upstream.emit("data: {\"n\":1}\n\n");
        upstream.fail(new IOException("connection reset"));

        assertThat(client.texts()).noneMatch(e -> e.contains("[DONE]"));
        assertThat(client.texts()).filteredOn(e -> e.contains("\"error\"")).hasSize(1);
    }

    @Test
    void errorEventWaitsForDemand() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, 1);

        upstream.emit("data: a\n\n");
        upstream.fail(new IOException("reset"));
        assertThat(client.texts()).containsExactly("data: a\n\n");
        assertThat(client.isCompleted()).isFalse();

        client.request(1);

        assertThat(client.texts()).hasSize(2);
        assertThat(errorOf(client.texts().get(1)).path("code").asText()).isEqualTo("upstream_disconnected");
        assertThat(client.isCompleted()).isTrue();
        assertThat(client.demandViolations()).isZero();
    }

    @Test
    void eventOverTheLimitEndsTheStreamWithAnErrorEventAndCancelsTheUpstream() {
        TestSubscriber client = subscribe(64, Long.MAX_VALUE);

        upstream.emit("data: ok\n\n");
        upstream.emit("data: " + "x".repeat(100));

        List<String> items = client.texts();
        assertThat(items).hasSize(2);
        assertThat(items.get(0)).isEqualTo("data: ok\n\n");
        assertThat(errorOf(items.get(1)).path("code").asText()).isEqualTo("upstream_event_too_large");
        assertThat(upstream.isCancelled()).isTrue();
        assertThat(client.completions()).isEqualTo(1);
    }

    @Test
    void completeEventOverTheLimitInOneReadIsRefusedToo() {
        TestSubscriber client = subscribe(64, Long.MAX_VALUE);

        upstream.emit("data: " + "x".repeat(100) + "\n\n");

        assertThat(client.texts())
                .singleElement()
                .satisfies(e -> assertThat(errorOf(e).path("code").asText()).isEqualTo("upstream_event_too_large"));
        assertThat(upstream.isCancelled()).isTrue();
        assertThat(client.isCompleted()).isTrue();
    }

    @Test
    void signalsAfterTheTooLargeEventAreIgnored() {
        TestSubscriber client = subscribe(64, Long.MAX_VALUE);
        upstream.emit("data: " + "x".repeat(100));

        upstream.fail(new IOException("cancelled"));

        assertThat(client.texts()).hasSize(1);
        assertThat(client.completions()).isEqualTo(1);
    }

    @Test
    void requestsAtMostOneUpstreamItemAtATimeAndPublishesNothingBeyondDemand() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, 1);
        assertThat(upstream.totalRequested()).isEqualTo(1);

        upstream.emit("data: 1\n\ndata: 2\n\ndata: 3\n\n");
        assertThat(client.texts()).containsExactly("data: 1\n\n");
        assertThat(upstream.outstanding())
                .as("events are still queued: no new upstream read")
                .isZero();

        client.request(1);
        client.request(1);
        assertThat(client.texts()).containsExactly("data: 1\n\n", "data: 2\n\n", "data: 3\n\n");
        assertThat(upstream.totalRequested()).isEqualTo(1);

        client.request(1);
        assertThat(upstream.totalRequested()).isEqualTo(2);
        upstream.emit("data: 4\n");
        assertThat(upstream.totalRequested())
                .as("a partial event asks for the next read")
                .isEqualTo(3);
        upstream.emit("\n");
        assertThat(client.texts()).last().isEqualTo("data: 4\n\n");

        assertThat(upstream.maxOutstanding()).isEqualTo(1);
        assertThat(client.demandViolations()).isZero();
    }

    @Test
    void withoutDemandNothingIsReadFromUpstream() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, 0);

        assertThat(upstream.isSubscribed()).isTrue();
        assertThat(upstream.totalRequested()).isZero();
        assertThat(client.items()).isEmpty();
    }

    @Test
    void unboundedDemandStillReadsUpstreamOneItemAtATime() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, Long.MAX_VALUE);

        for (int i = 0; i < 10; i++) {
            upstream.emit("data: " + i + "\n\n");
        }

        assertThat(client.items()).hasSize(10);
        assertThat(upstream.maxOutstanding()).isEqualTo(1);
    }

    @Test
    void completionWaitsUntilQueuedEventsAreDelivered() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, 1);

        upstream.emit("data: 1\n\ndata: 2\n\n");
        upstream.complete();
        assertThat(client.isCompleted()).isFalse();

        client.request(1);

        assertThat(client.texts()).containsExactly("data: 1\n\n", "data: 2\n\n");
        assertThat(client.completions()).isEqualTo(1);
    }

    @Test
    void cancelCancelsTheUpstreamSubscription() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, 1);
        upstream.emit("data: 1\n\ndata: 2\n\n");

        client.cancel();
        client.request(5);

        assertThat(upstream.isCancelled()).isTrue();
        assertThat(client.texts()).containsExactly("data: 1\n\n");
        assertThat(client.isCompleted()).isFalse();
    }

    @Test
    void cancelBeforeTheUpstreamSubscribesCancelsItOnArrival() {
        SseEventRelay relay = new SseEventRelay(upstream, DEFAULT_LIMIT);

        relay.subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.cancel();
            }

            @Override
            public void onNext(List<ByteBuffer> item) {}

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onComplete() {}
        });

        assertThat(upstream.isCancelled()).isTrue();
        assertThat(upstream.totalRequested()).isZero();
    }

    @Test
    void nonPositiveRequestFailsTheSubscriptionAndCancelsTheUpstream() {
        TestSubscriber client = subscribe(DEFAULT_LIMIT, 0);

        client.request(0);

        assertThat(client.error()).isInstanceOf(IllegalArgumentException.class);
        assertThat(upstream.isCancelled()).isTrue();
    }

    @Test
    void canBeSubscribedOnlyOnce() {
        SseEventRelay relay = new SseEventRelay(upstream, DEFAULT_LIMIT);
        relay.subscribe(new TestSubscriber(0));
        TestSubscriber second = new TestSubscriber(1);

        relay.subscribe(second);

        assertThat(second.error()).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void firstEventReadsAheadOneItemAtATimeDropsCommentsAndHandsTheEventToTheLaterSubscriber() {
        SseEventRelay relay = new SseEventRelay(upstream, DEFAULT_LIMIT);
        java.util.concurrent.CompletableFuture<Void> first = relay.firstEvent();

        upstream.emit(": keep-alive\n\n\n");
        upstream.emit("data: {\"a\"");
        assertThat(first).isNotDone();
        assertThat(upstream.maxOutstanding()).isEqualTo(1);
        upstream.emit(":1}\n\ndata: 2\n\n");
        assertThat(first).isCompleted();
        long asked = upstream.totalRequested();

        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        relay.subscribe(client);
        // The stray blank line after the comment travels with the event, as the framer always cuts.
        assertThat(client.texts()).containsExactly("\ndata: {\"a\":1}\n\n", "data: 2\n\n");
        upstream.emit(": later comments are relayed\n\n");
        upstream.complete();

        assertThat(asked).as("nothing more asked until the subscriber came").isEqualTo(3);
        assertThat(client.texts()).endsWith(": later comments are relayed\n\n");
        assertThat(client.completions()).isEqualTo(1);
    }

    @Test
    void aStreamThatFailsOrEndsBeforeItsFirstEventFailsFirstEventAndPublishesNothing() {
        SseEventRelay relay = new SseEventRelay(upstream, DEFAULT_LIMIT);
        java.util.concurrent.CompletableFuture<Void> first = relay.firstEvent();
        upstream.emit(": processing\n\ndata: {\"half");
        upstream.fail(new IOException("reset"));

        assertThat(first).isCompletedExceptionally();
        assertThat(first.handle((v, e) -> e).join()).isInstanceOf(IOException.class);
        TestSubscriber late = new TestSubscriber(1);
        relay.subscribe(late);
        assertThat(late.texts()).isEmpty();
        assertThat(late.error()).isInstanceOf(IllegalStateException.class);

        TestPublisher other = new TestPublisher();
        java.util.concurrent.CompletableFuture<Void> ended = new SseEventRelay(other, DEFAULT_LIMIT).firstEvent();
        other.emit(":\n\n");
        other.complete();
        assertThat(ended.handle((v, e) -> e).join()).isInstanceOf(java.io.EOFException.class);
    }

    @Test
    void aKeepAliveAfterTheHoldIsTheFirstEventSoALongThinkStillSendsBytes() throws Exception {
        SseEventRelay relay = new SseEventRelay(upstream, DEFAULT_LIMIT);
        java.util.concurrent.CompletableFuture<Void> first = relay.firstEvent(java.time.Duration.ofMillis(100));
        upstream.emit(": early, held\n\n");
        assertThat(first).isNotDone();

        Thread.sleep(150);
        upstream.emit(": OPENROUTER PROCESSING\n\n");

        assertThat(first).isCompleted();
        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        relay.subscribe(client);
        upstream.emit("data: 1\n\n");
        upstream.fail(new IOException("reset"));
        assertThat(client.texts())
                .as("the late keep-alive went out first; a break after it ends the stream with the error event")
                .containsExactly(
                        ": OPENROUTER PROCESSING\n\n",
                        "data: 1\n\n",
                        new String(SseEventRelay.UPSTREAM_BROKE_EVENT, java.nio.charset.StandardCharsets.UTF_8));
    }

    @Test
    void cancellingFirstEventCancelsTheUpstream() {
        java.util.concurrent.CompletableFuture<Void> first = new SseEventRelay(upstream, DEFAULT_LIMIT).firstEvent();

        first.cancel(false);

        assertThat(upstream.isCancelled()).isTrue();
    }

    private TestSubscriber subscribe(int maxEventBytes, long initialDemand) {
        TestSubscriber client = new TestSubscriber(initialDemand);
        new SseEventRelay(upstream, maxEventBytes).subscribe(client);
        return client;
    }

    private static JsonNode errorOf(String event) {
        assertThat(event).startsWith("data: ").endsWith("\n\n");
        try {
            JsonNode node = JSON.readTree(event.substring("data: ".length()).strip());
            assertThat(node.path("error").isObject())
                    .as("OpenAI error shape: %s", event)
                    .isTrue();
            return node.get("error");
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + event, e);
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
