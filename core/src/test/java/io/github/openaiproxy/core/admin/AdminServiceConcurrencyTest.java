package io.github.openaiproxy.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Two admin changes of one key at once: neither writes back what the other replaced. */
class AdminServiceConcurrencyTest {
    private final CountDownLatch policyChangeRead = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicBoolean armed = new AtomicBoolean();
    private final InMemoryProxyKeyStore stored = new InMemoryProxyKeyStore();
    /** Its first lookup after arming stops after reading, until released. */
    private final ProxyKeyStore keys = new ProxyKeyStore() {
        @Override
        public Optional<ProxyKey> find(String id) {
            Optional<ProxyKey> found = stored.find(id);
            if (armed.compareAndSet(true, false)) {
                policyChangeRead.countDown();
                await(release);
            }
            return found;
        }

        @Override
        public Optional<ProxyKey> findByHash(String hash) {
            return stored.findByHash(hash);
        }

        @Override
        public List<ProxyKey> list() {
            return stored.list();
        }

        @Override
        public void insert(ProxyKey key) {
            stored.insert(key);
        }

        @Override
        public boolean update(ProxyKey key) {
            return stored.update(key);
        }

        @Override
        public void touch(String id, Instant at) {
            stored.touch(id, at);
        }
    };

    private final AdminService service = new AdminService(
            AccessConfig.DEFAULTS, keys, new InMemoryPolicyStore(), AuditLog.inMemory(), Clock.systemUTC());

    @Test
    void aPolicyChangeRacingARotationNeverBringsBackTheOldSecret() throws Exception {
        CreatedKey created = service.createKey("test", new NewKey("ci", null, null, null));
        String id = created.key().id();
        armed.set(true);

        Thread policyChange = new Thread(() -> service.changeKeyPolicy("a", id, Policy.USERS));
        policyChange.start();
        assertThat(policyChangeRead.await(10, TimeUnit.SECONDS)).isTrue(); // it has read the key

        AtomicReference<CreatedKey> rotated = new AtomicReference<>();
        CountDownLatch rotationDone = new CountDownLatch(1);
        Thread rotation = new Thread(() -> {
            rotated.set(service.rotateKey("b", id));
            rotationDone.countDown();
        });
        rotation.start();
        // Either the rotation waits for the policy change (BLOCKED on its lock) or it runs through first.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (rotation.getState() != Thread.State.BLOCKED
                && rotationDone.getCount() > 0
                && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        release.countDown();
        policyChange.join(10_000);
        rotation.join(10_000);

        String newSecret = rotated.get().secret();
        assertThat(stored.findByHash(ProxyKeys.hash(created.secret())))
                .as("the old secret")
                .isEmpty();
        assertThat(stored.findByHash(ProxyKeys.hash(newSecret)))
                .as("the rotated secret")
                .map(ProxyKey::policy)
                .contains(Policy.USERS);
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
