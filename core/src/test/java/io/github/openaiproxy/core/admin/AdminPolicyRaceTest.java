package io.github.openaiproxy.core.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A change that reads a stored policy (a key created under it, the policy saved) racing the policy's deletion:
 * no key ends up under a policy that is gone (its calls would be refused, and whoever next saves a policy of that
 * name would hand it those rules), and the audit log's last word on a policy is what the store holds.
 */
class AdminPolicyRaceTest {
    private final CountDownLatch firstRead = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicBoolean armed = new AtomicBoolean();
    private final AtomicBoolean savesArmed = new AtomicBoolean();
    private final InMemoryPolicyStore stored = new InMemoryPolicyStore();
    /** Its first lookup after arming stops after reading, its first save after arming before writing, until released. */
    private final PolicyStore policies = new PolicyStore() {
        @Override
        public List<Policy> list() {
            return stored.list();
        }

        @Override
        public Optional<Policy> find(String name) {
            Optional<Policy> found = stored.find(name);
            if (armed.compareAndSet(true, false)) {
                firstRead.countDown();
                await(release);
            }
            return found;
        }

        @Override
        public void save(Policy policy) {
            if (savesArmed.compareAndSet(true, false)) {
                firstRead.countDown();
                await(release);
            }
            stored.save(policy);
        }

        @Override
        public boolean delete(String name) {
            return stored.delete(name);
        }
    };

    private final InMemoryProxyKeyStore keys = new InMemoryProxyKeyStore();
    private final AuditLog audit = AuditLog.inMemory();
    private final AdminService service =
            new AdminService(AccessConfig.DEFAULTS, keys, policies, audit, Clock.systemUTC());

    @Test
    void aKeyCreatedWhileItsPolicyIsDeletedIsNeverLeftUnderNoPolicy() throws Exception {
        service.savePolicy("test", Policy.unrestricted("batch"));
        AtomicReference<Throwable> createFailure = new AtomicReference<>();
        Thread create = new Thread(() -> {
            try {
                service.createKey("a", new NewKey("ci", null, "batch", null));
            } catch (RuntimeException e) {
                createFailure.set(e);
            }
        });
        armed.set(true);
        create.start();
        assertThat(firstRead.await(10, TimeUnit.SECONDS)).isTrue(); // it has seen that the policy exists

        Throwable deleteFailure = race(() -> service.deletePolicy("b", "batch"));
        create.join(10_000);

        boolean keyUnderBatch = keys.list().stream().map(ProxyKey::policy).anyMatch("batch"::equals);
        boolean policyExists = stored.find("batch").isPresent();
        assertThat(!keyUnderBatch || policyExists)
                .as(
                        "a key is under 'batch' (%s) but the policy was deleted (create: %s, delete: %s)",
                        keyUnderBatch, createFailure.get(), deleteFailure)
                .isTrue();
        assertThat(deleteFailure)
                .isInstanceOfSatisfying(
                        AdminException.class, e -> assertThat(e.code()).isEqualTo("policy_in_use"));
    }

    @Test
    void aPolicySavedWhileItIsDeletedLeavesTheAuditLogSayingWhatTheStoreHolds() throws Exception {
        service.savePolicy("test", Policy.unrestricted("batch"));
        Thread save = new Thread(() -> service.savePolicy("a", Policy.unrestricted("batch")));
        savesArmed.set(true);
        save.start();
        assertThat(firstRead.await(10, TimeUnit.SECONDS)).isTrue(); // audited, about to write

        Throwable deleteFailure = race(() -> service.deletePolicy("b", "batch"));
        save.join(10_000);

        List<AuditEntry> latest = audit.recent(1);
        String lastWord = latest.get(0).action();
        boolean exists = stored.find("batch").isPresent();
        assertThat(lastWord)
                .as("the latest audit entry (delete failed with %s)", deleteFailure)
                .isEqualTo(exists ? "policy.update" : "policy.delete");
    }

    /**
     * Runs {@code change} on another thread while the first change waits inside its store read: until the change
     * blocks on the service's lock or is done, then lets the first one go; the change's failure, if any.
     */
    private Throwable race(Runnable change) throws InterruptedException {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        Thread t = new Thread(() -> {
            failure.set(catchThrowable(change::run));
            done.countDown();
        });
        t.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != Thread.State.BLOCKED && done.getCount() > 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        release.countDown();
        t.join(10_000);
        return failure.get();
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
