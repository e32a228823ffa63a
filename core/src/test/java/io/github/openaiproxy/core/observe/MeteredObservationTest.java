package io.github.openaiproxy.core.observe;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** {@code metered} reaches every observer of a composite, and one that throws does not stop the others. */
class MeteredObservationTest {
    static final UsageRecord RECORD = new UsageRecord(
            Instant.parse("2026-01-01T00:00:00Z"),
            "PROXY_KEY",
            "key_1",
            "key_1",
            null,
            "keys",
            "/v1/chat/completions",
            "gpt-4o",
            "gpt-4o",
            "default",
            200,
            200,
            new TokenUsage(10, 2, 5, 1, 0),
            1234,
            false,
            false,
            UsageRecord.Outcome.COMPLETED,
            10,
            -1,
            null);

    @Test
    void meteredIsForwardedToEveryObserverAndFailuresAreContained() {
        List<UsageRecord> seen = new CopyOnWriteArrayList<>();
        ProxyObserver throwing = (method, path) -> new ProxyObserver.Observation() {
            @Override
            public void metered(UsageRecord record) {
                throw new IllegalStateException("observer bug");
            }
        };
        ProxyObserver recording = (method, path) -> new ProxyObserver.Observation() {
            @Override
            public void metered(UsageRecord record) {
                seen.add(record);
            }
        };
        ProxyObserver composite = CompositeProxyObserver.of(List.of(throwing, recording));
        ProxyObserver.Observation o = GuardedObservation.begin(composite, "POST", "/v1/chat/completions", false);
        o.metered(RECORD);
        assertThat(seen).containsExactly(RECORD);
    }
}
