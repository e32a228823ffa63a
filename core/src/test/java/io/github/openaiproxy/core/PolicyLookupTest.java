package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyStore;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Stored policies are cached briefly, loaded once for concurrent requests, off the request's thread. */
class PolicyLookupTest {
    private final AtomicInteger finds = new AtomicInteger();
    private final CountDownLatch release = new CountDownLatch(1);
    private volatile Policy stored = Policy.unrestricted("team");

    private final PolicyStore store = new PolicyStore() {
        @Override
        public List<Policy> list() {
            return List.of(stored);
        }

        @Override
        public Optional<Policy> find(String name) {
            finds.incrementAndGet();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return name.equals("team") ? Optional.of(stored) : Optional.empty();
        }

        @Override
        public void save(Policy policy) {}

        @Override
        public boolean delete(String name) {
            return false;
        }
    };

    @Test
    void concurrentRequestsShareOneLoadAndAChangeIsSeenAfterTheTimeToLive() throws Exception {
        AtomicLong now = new AtomicLong();
        try (PolicyLookup lookup = new PolicyLookup(Map.of(), store, now::get)) {
            CompletableFuture<Optional<Policy>> first = lookup.stored("team");
            CompletableFuture<Optional<Policy>> second = lookup.stored("team");
            // The store blocks, yet the request's thread got a future at once.
            assertThat(first).isNotDone();
            release.countDown();
            assertThat(first.get(10, TimeUnit.SECONDS)).contains(Policy.unrestricted("team"));
            assertThat(second.get(10, TimeUnit.SECONDS)).contains(Policy.unrestricted("team"));
            assertThat(finds).hasValue(1);

            stored = Policy.unrestricted("team").equals(stored) ? changed() : stored;
            now.addAndGet(PolicyLookup.TIME_TO_LIVE_NANOS - 1);
            assertThat(lookup.stored("team").get(10, TimeUnit.SECONDS)).contains(Policy.unrestricted("team"));
            assertThat(finds).hasValue(1);
            now.addAndGet(1);
            assertThat(lookup.stored("team").get(10, TimeUnit.SECONDS)).contains(changed());
            assertThat(finds).hasValue(2);

            assertThat(lookup.stored("nobody").get(10, TimeUnit.SECONDS)).isEmpty();
            assertThat(lookup.configured("team")).isNull();
        }
    }

    private static Policy changed() {
        Policy p = Policy.unrestricted("team");
        return new Policy(
                p.name(),
                List.of("chat"),
                p.models(),
                p.maxTokens(),
                p.maxN(),
                p.overCap(),
                p.imageModels(),
                p.imageSizes(),
                p.imageQualities(),
                p.quotas());
    }

    @org.junit.jupiter.api.Test
    void aConfiguredPolicyNothingNamesIsReportedAsPossiblyMisspelt() {
        io.github.openaiproxy.core.access.AccessConfig access = io.github.openaiproxy.core.access.AccessConfig.DEFAULTS
                .withPolicies(java.util.Map.of(
                        "key", Policy.unrestricted("key"), // meant: keys
                        "staff", Policy.unrestricted("staff"),
                        "ci", Policy.unrestricted("ci"),
                        "keys", Policy.unrestricted("keys")))
                .withRolePolicies(java.util.Map.of("STAFF", "staff"))
                .withDeclaredKeys(List.of(new io.github.openaiproxy.core.access.ProxyKey(
                        "config-ci",
                        "opk-abc",
                        "0".repeat(64),
                        "ci",
                        null,
                        "ci",
                        java.time.Instant.EPOCH,
                        null,
                        null,
                        null)));

        org.assertj.core.api.Assertions.assertThat(PolicyLookup.unreferenced(access))
                .containsExactly("key");
        org.assertj.core.api.Assertions.assertThat(
                        PolicyLookup.unreferenced(io.github.openaiproxy.core.access.AccessConfig.DEFAULTS))
                .isEmpty();
    }
}
