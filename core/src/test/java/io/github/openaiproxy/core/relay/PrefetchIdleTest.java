package io.github.openaiproxy.core.relay;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.flow.IdleWatch;
import io.github.openaiproxy.core.flow.Prefetch;
import io.github.openaiproxy.core.flow.Publishers;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The idle watch of a non-streamed body, before and after the prefetch limit. */
class PrefetchIdleTest {
    private final IdleWatch timer = new IdleWatch(Duration.ofMillis(150));
    private final TestPublisher upstream = new TestPublisher();

    @AfterEach
    void stop() {
        timer.close();
    }

    @Test
    void aBodySilentBeforeTheLimitIsBrokenByATimeout() throws Exception {
        var read = Prefetch.read(upstream, 1024, timer);
        upstream.emit("{\"partial\":");

        Prefetch.Outcome outcome = read.get(10, TimeUnit.SECONDS);

        assertThat(outcome).isInstanceOf(Prefetch.Outcome.Broken.class);
        assertThat(((Prefetch.Outcome.Broken) outcome).cause()).isInstanceOf(Prefetch.IdleTimeout.class);
        assertThat(upstream.isCancelled()).isTrue();
        upstream.emit("late"); // ignored after the timeout
        assertThat(timer.pending()).isZero();
    }

    @Test
    void aBodySilentAfterTheLimitFailsTheRelayedBody() throws Exception {
        var read = Prefetch.read(upstream, 4, timer);
        upstream.emit("0123456789");
        Prefetch.Outcome outcome = read.get(10, TimeUnit.SECONDS);
        assertThat(outcome).isInstanceOf(Prefetch.Outcome.Longer.class);

        TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
        ((Prefetch.Outcome.Longer) outcome).body().subscribe(client);
        client.terminated().get(10, TimeUnit.SECONDS);

        assertThat(client.texts()).containsExactly("0123456789");
        assertThat(client.error()).isInstanceOf(Prefetch.IdleTimeout.class);
        assertThat(upstream.isCancelled()).isTrue();
    }

    @Test
    void wholeBodiesAreWatchedWithoutATimerTaskEachAndLeaveNothingBehind() throws Exception {
        try (IdleWatch slow = new IdleWatch(Duration.ofMinutes(5))) {
            for (int i = 0; i < 200; i++) {
                String json = "{\"n\":" + i + "}";
                CompletableFuture<Prefetch.Outcome> read;
                if (i % 2 == 0) {
                    TestPublisher body = new TestPublisher();
                    read = Prefetch.read(body, 1024, slow);
                    body.emit(json);
                    body.complete();
                } else {
                    // Answered within the subscription itself: the body ends before its watch starts.
                    read = Prefetch.read(
                            Publishers.just(List.of(ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8)))),
                            1024,
                            slow);
                }
                Prefetch.Outcome outcome = read.get(10, TimeUnit.SECONDS);
                assertThat(outcome).isInstanceOf(Prefetch.Outcome.Whole.class);
                assertThat(new String(((Prefetch.Outcome.Whole) outcome).bytes(), StandardCharsets.UTF_8))
                        .isEqualTo(json);
            }
            assertThat(slow.pending()).as("bodies still watched").isZero();
            // One sweep a second at most while bodies are watched, instead of a task scheduled and cancelled
            // per body.
            assertThat(slow.tasksScheduled()).isLessThan(20);
        }
    }

    @Test
    void aClientThatAsksForNothingIsNotTimedOutAndAWholeBodyLeavesNoCheck() throws Exception {
        var read = Prefetch.read(upstream, 4, timer);
        upstream.emit("0123456789");
        Prefetch.Outcome outcome = read.get(10, TimeUnit.SECONDS);
        TestSubscriber client = new TestSubscriber(1);
        ((Prefetch.Outcome.Longer) outcome).body().subscribe(client);
        client.awaitItems(1, Duration.ofSeconds(5));

        Thread.sleep(450); // what is asserted is that nothing happens meanwhile: no read is outstanding
        assertThat(client.terminated()).isNotDone();

        client.request(1);
        upstream.emit("rest");
        upstream.complete();
        client.terminated().get(10, TimeUnit.SECONDS);
        assertThat(client.texts()).containsExactly("0123456789", "rest");
        assertThat(timer.pending()).as("checks left on the timer").isZero();
    }
}
