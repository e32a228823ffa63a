package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.MemoryLimitStore;
import io.github.openaiproxy.core.limits.Reservation;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The starter's limits: the application's {@link LimitStore} bean counts the policies' quotas; without one the
 * store {@code openai.proxy.limits.store} names is made, and a shared one without what it needs stops start-up
 * saying so.
 */
class OpenAiProxyLimitsAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OpenAiProxyAutoConfiguration.class))
            // Refused before any upstream call: nothing leaves the machine.
            .withPropertyValues("openai.proxy.policies.anonymous.requests-per-minute=0");

    /** A memory store that remembers who asked. */
    static final class RecordingStore implements LimitStore {
        final MemoryLimitStore memory = new MemoryLimitStore();
        final List<String> subjects = new CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<Admission> reserve(Reservation r) {
            subjects.add(r.subject());
            return memory.reserve(r);
        }

        @Override
        public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long now) {
            return memory.adjust(subject, adjustments, now);
        }

        @Override
        public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
            return memory.release(subject, counter, leaseId);
        }

        @Override
        public String kind() {
            return "recording";
        }
    }

    @Test
    void theApplicationsLimitStoreCountsTheQuotas() {
        RecordingStore store = new RecordingStore();
        runner.withBean(LimitStore.class, () -> store).run(context -> {
            ProxyResponse r = context.getBean(ProxyEngine.class)
                    .handle(ProxyRequest.builder("GET", "/v1/models")
                            .remoteAddress("10.0.0.9")
                            .build())
                    .get(10, TimeUnit.SECONDS);
            r.discard();
            assertThat(r.status()).isEqualTo(429);
            assertThat(store.subjects).containsExactly("anonymous|anonymous:10.0.0.9");
        });
    }

    @Test
    void aSharedStoreWithoutABeanOrWhatItNeedsStopsStartUp() {
        runner.withPropertyValues("openai.proxy.limits.store=redis")
                .run(context -> assertThat(context)
                        .hasFailed()
                        .getFailure()
                        .rootCause()
                        .hasMessageContaining("limits.store=redis needs limits.redis-url"));
    }
}
