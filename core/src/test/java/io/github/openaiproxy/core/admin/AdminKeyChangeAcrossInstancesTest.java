package io.github.openaiproxy.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

/**
 * Two instances changing one key in one database: a change made from a copy read before the other instance's
 * rotation must not write the old secret back (it would work again, and the new one would not), nor undo a move to
 * another policy.
 */
class AdminKeyChangeAcrossInstancesTest {
    private final JdbcDataSource database = new JdbcDataSource();
    private final CountDownLatch readStale = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicBoolean armed = new AtomicBoolean();
    private final InMemoryPolicyStore policies = new InMemoryPolicyStore();

    {
        database.setURL("jdbc:h2:mem:keys-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
    }

    private final JdbcProxyKeyStore storeA = JdbcProxyKeyStore.create(database);
    private final JdbcProxyKeyStore storeB = JdbcProxyKeyStore.create(database);

    /** Instance A's store: once armed, its next read of a key stops there until released. */
    private final ProxyKeyStore pausingA = new ProxyKeyStore() {
        @Override
        public Optional<ProxyKey> findByHash(String hash) {
            return storeA.findByHash(hash);
        }

        @Override
        public Optional<ProxyKey> find(String id) {
            Optional<ProxyKey> found = storeA.find(id);
            if (armed.compareAndSet(true, false)) {
                readStale.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return found;
        }

        @Override
        public List<ProxyKey> list() {
            return storeA.list();
        }

        @Override
        public void insert(ProxyKey key) {
            storeA.insert(key);
        }

        @Override
        public boolean update(ProxyKey key) {
            return storeA.update(key);
        }

        @Override
        public boolean replace(ProxyKey expected, ProxyKey changed) {
            return storeA.replace(expected, changed);
        }

        @Override
        public void touch(String id, Instant at) {
            storeA.touch(id, at);
        }
    };

    private final AdminService a =
            new AdminService(AccessConfig.DEFAULTS, pausingA, policies, AuditLog.inMemory(), Clock.systemUTC());
    private final AdminService b =
            new AdminService(AccessConfig.DEFAULTS, storeB, policies, AuditLog.inMemory(), Clock.systemUTC());

    /** Runs {@code change} on instance A, lets instance B act while A holds its stale copy, then lets A write. */
    private void whileAHoldsAStaleCopy(Runnable change, Runnable meanwhileOnB) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread onA = new Thread(() -> {
            try {
                change.run();
            } catch (RuntimeException e) {
                failure.set(e);
            }
        });
        armed.set(true);
        onA.start();
        assertThat(readStale.await(10, TimeUnit.SECONDS)).isTrue();
        meanwhileOnB.run();
        release.countDown();
        onA.join(10_000);
        assertThat(failure.get()).isNull();
    }

    @Test
    void aPolicyChangeFromAStaleCopyDoesNotBringARotatedSecretBack() throws Exception {
        a.savePolicy("ops", Policy.unrestricted("batch"));
        a.savePolicy("ops", Policy.unrestricted("interactive"));
        CreatedKey created = b.createKey("ops", new NewKey("ci", null, "batch", null));
        String id = created.key().id();
        AtomicReference<CreatedKey> rotated = new AtomicReference<>();

        whileAHoldsAStaleCopy(
                () -> a.changeKeyPolicy("alice", id, "interactive"), () -> rotated.set(b.rotateKey("bob", id)));

        assertThat(storeB.findByHash(ProxyKeys.hash(rotated.get().secret())))
                .as("the rotated secret works")
                .isPresent();
        assertThat(storeB.findByHash(ProxyKeys.hash(created.secret())))
                .as("the old secret stays dead")
                .isEmpty();
        assertThat(storeB.find(id).orElseThrow().policy()).isEqualTo("interactive");
    }

    @Test
    void aRotationFromAStaleCopyDoesNotUndoAPolicyChange() throws Exception {
        a.savePolicy("ops", Policy.unrestricted("batch"));
        a.savePolicy("ops", Policy.unrestricted("interactive"));
        CreatedKey created = b.createKey("ops", new NewKey("ci", null, "batch", null));
        String id = created.key().id();
        AtomicReference<CreatedKey> rotated = new AtomicReference<>();

        whileAHoldsAStaleCopy(
                () -> rotated.set(a.rotateKey("alice", id)), () -> b.changeKeyPolicy("bob", id, "interactive"));

        ProxyKey stored = storeB.find(id).orElseThrow();
        assertThat(stored.policy()).isEqualTo("interactive");
        assertThat(stored.hash()).isEqualTo(ProxyKeys.hash(rotated.get().secret()));
    }
}
