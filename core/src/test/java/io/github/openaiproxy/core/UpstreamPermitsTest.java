package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.testing.TestPublisher;
import io.github.openaiproxy.testsupport.TestSubscriber;
import java.net.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class UpstreamPermitsTest {
    @Test
    void theCapsRefuseAtOnceAndAReleaseMakesRoom() {
        UpstreamPermits permits = new UpstreamPermits(3, 2);

        UpstreamPermits.Permit a1 = (UpstreamPermits.Permit) permits.acquire("10.0.0.1");
        UpstreamPermits.Permit a2 = (UpstreamPermits.Permit) permits.acquire("10.0.0.1");
        assertThat(permits.acquire("10.0.0.1")).isEqualTo(UpstreamPermits.Refused.PER_CLIENT);
        UpstreamPermits.Permit b1 = (UpstreamPermits.Permit) permits.acquire("10.0.0.2");
        assertThat(permits.acquire("10.0.0.3")).isEqualTo(UpstreamPermits.Refused.TOTAL);
        assertThat(permits.inFlight()).isEqualTo(3);

        a1.release();
        a1.release(); // twice: counted once
        assertThat(permits.inFlight()).isEqualTo(2);
        assertThat(permits.acquire("10.0.0.1")).isInstanceOf(UpstreamPermits.Permit.class);
        assertThat(permits.inFlight()).isEqualTo(3);
        a2.release();
        b1.release();
        assertThat(permits.clientsInFlight())
                .as("entries left for 10.0.0.1 only")
                .isEqualTo(1);
    }

    @Test
    void zeroMeansNoCapAndAnUnknownAddressCountsOnlyInTheTotal() {
        UpstreamPermits none = new UpstreamPermits(0, 0);
        for (int i = 0; i < 5000; i++) {
            assertThat(none.acquire("10.0.0.1")).isInstanceOf(UpstreamPermits.Permit.class);
        }
        assertThat(none.clientsInFlight()).isZero();

        UpstreamPermits perClient = new UpstreamPermits(0, 1);
        assertThat(perClient.acquire(null)).isInstanceOf(UpstreamPermits.Permit.class);
        assertThat(perClient.acquire(null)).isInstanceOf(UpstreamPermits.Permit.class);
        assertThat(perClient.clientsInFlight()).isZero();
    }

    @Test
    void manyThreadsNeverExceedTheCapsAndLeaveNothingBehind() throws Exception {
        UpstreamPermits permits = new UpstreamPermits(6, 2);
        AtomicInteger peak = new AtomicInteger();
        AtomicInteger overCap = new AtomicInteger();
        AtomicInteger granted = new AtomicInteger();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            String client = "10.0.0." + (t % 3);
            Thread thread = new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < 20_000; i++) {
                    if (permits.acquire(client) instanceof UpstreamPermits.Permit p) {
                        // Count granted permits ourselves: inFlight() also sees other threads' tentative
                        // increments that are about to be refused, so it may briefly read above the cap.
                        int now = granted.incrementAndGet();
                        peak.accumulateAndGet(now, Math::max);
                        if (now > 6) {
                            overCap.incrementAndGet();
                        }
                        granted.decrementAndGet();
                        p.release();
                        p.release();
                    }
                }
            });
            thread.start();
            threads.add(thread);
        }
        go.countDown();
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
        }

        assertThat(overCap).hasValue(0);
        assertThat(peak.get()).isBetween(1, 6);
        assertThat(permits.inFlight()).isZero();
        assertThat(permits.clientsInFlight()).as("no zero entries left").isZero();
    }

    @Test
    void aHeldBodyReleasesOnceOnCompletionErrorOrCancel() {
        UpstreamPermits permits = new UpstreamPermits(0, 0);
        for (String end : List.of("complete", "error", "cancel")) {
            UpstreamPermits.Permit p = (UpstreamPermits.Permit) permits.acquire("10.0.0.1");
            TestPublisher body = new TestPublisher();
            ProxyResponse r =
                    p.heldUntilDone(new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, true));
            TestSubscriber client = new TestSubscriber(Long.MAX_VALUE);
            r.body().subscribe(client);
            body.emit("data: x\n\n");
            assertThat(permits.inFlight()).as(end).isEqualTo(1);

            switch (end) {
                case "complete" -> body.complete();
                case "error" -> body.fail(new java.io.IOException("reset"));
                default -> client.cancel();
            }
            client.cancel(); // a late cancel after the end changes nothing

            assertThat(permits.inFlight()).as(end).isZero();
            assertThat(client.texts()).as(end).containsExactly("data: x\n\n");
        }
    }
}
