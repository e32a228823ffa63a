package io.github.openaiproxy.core.relay;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.flow.IdleWatch;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The idle watch of an upstream stream, on the relay itself with a short timeout. */
class SseEventRelayIdleTest {
    private static final Duration IDLE = Duration.ofMillis(150);
    private static final String EVENT = "data: {\"choices\":[]}\n\n";
    private static final String IDLE_ERROR = new String(SseEventRelay.UPSTREAM_IDLE_EVENT);

    private final IdleWatch timer = new IdleWatch(IDLE);
    private final TestPublisher upstream = new TestPublisher();

    @AfterEach
    void stop() {
        timer.close();
    }

    private TestSubscriber subscribe(long demand) {
        TestSubscriber client = new TestSubscriber(demand);
        new SseEventRelay(upstream, 1024 * 1024, timer).subscribe(client);
        return client;
    }

    @Test
    void anUpstreamSilentAfterAnEventIsCancelledAndTheStreamEndsWithOneErrorEvent() throws Exception {
        TestSubscriber client = subscribe(Long.MAX_VALUE);
        upstream.emit(EVENT);

        client.terminated().get(10, TimeUnit.SECONDS);

        assertThat(client.texts()).containsExactly(EVENT, IDLE_ERROR);
        assertThat(client.completions()).isEqualTo(1);
        assertThat(client.error()).isNull();
        assertThat(upstream.isCancelled()).isTrue();
        assertThat(timer.pending()).as("checks left on the timer").isZero();
    }

    @Test
    void anUpstreamSilentFromTheStartIsTimedOutToo() throws Exception {
        TestSubscriber client = subscribe(Long.MAX_VALUE);

        client.terminated().get(10, TimeUnit.SECONDS);

        assertThat(client.texts()).containsExactly(IDLE_ERROR);
        assertThat(upstream.isCancelled()).isTrue();
    }

    @Test
    void aSignalAfterTheTimeoutIsIgnored() throws Exception {
        TestSubscriber client = subscribe(Long.MAX_VALUE);
        client.terminated().get(10, TimeUnit.SECONDS);

        upstream.emit(EVENT);
        upstream.complete();

        assertThat(client.texts()).containsExactly(IDLE_ERROR);
        assertThat(client.completions()).isEqualTo(1);
    }

    @Test
    void aClientThatTakesItsTimeIsNotTheUpstreamsSilence() throws Exception {
        // Only a wait for the upstream counts: a client that asks for nothing leaves no read outstanding.
        TestSubscriber client = subscribe(1);
        upstream.emit(EVENT);
        client.awaitItems(1, Duration.ofSeconds(5));

        Thread.sleep(IDLE.toMillis() * 3); // what is asserted is that nothing happens meanwhile
        assertThat(client.terminated()).isNotDone();
        assertThat(upstream.isCancelled()).isFalse();

        client.request(1);
        upstream.emit(EVENT);
        upstream.complete();
        client.request(1);
        client.terminated().get(10, TimeUnit.SECONDS);
        assertThat(client.texts()).containsExactly(EVENT, EVENT);
    }

    @Test
    void aStreamThatEndsOrIsCancelledLeavesNoCheckBehind() throws Exception {
        TestSubscriber ended = subscribe(Long.MAX_VALUE);
        upstream.emit(EVENT);
        upstream.complete();
        ended.terminated().get(10, TimeUnit.SECONDS);

        TestPublisher other = new TestPublisher();
        TestSubscriber cancelled = new TestSubscriber(Long.MAX_VALUE);
        new SseEventRelay(other, 1024 * 1024, timer).subscribe(cancelled);
        cancelled.cancel();

        assertThat(timer.pending()).isZero();
        assertThat(ended.texts()).containsExactly(EVENT);
        assertThat(other.isCancelled()).isTrue();
    }
}
