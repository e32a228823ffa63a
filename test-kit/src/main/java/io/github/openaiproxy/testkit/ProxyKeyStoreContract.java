package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The {@link ProxyKeyStore} compatibility kit for writable stores: every implementation runs this suite by
 * extending it and saying how to get the store under test (core's in-memory store, the JDBC store on H2 and
 * PostgreSQL, and any store of another project). The same store may serve every test of a class: each test
 * makes keys of its own.
 *
 * <pre>{@code
 * class RedisProxyKeyStoreTest extends ProxyKeyStoreContract {
 *     private final ProxyKeyStore store = RedisProxyKeyStore.create(redis);
 *
 *     protected ProxyKeyStore store() {
 *         return store;
 *     }
 * }
 * }</pre>
 */
public abstract class ProxyKeyStoreContract {
    /** The store under test. */
    protected abstract ProxyKeyStore store();

    /** A new key with a fresh id and hash, created {@code minutesAgo} minutes ago (times in whole millis). */
    protected static ProxyKey newKey(String policy, long minutesAgo) {
        ProxyKeys.NewKey k = ProxyKeys.generate();
        Instant created = Instant.now().truncatedTo(ChronoUnit.MILLIS).minus(minutesAgo, ChronoUnit.MINUTES);
        return new ProxyKey(
                "key_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16),
                k.displayPrefix(),
                k.hash(),
                "name " + UUID.randomUUID(),
                "owner-1",
                policy,
                created,
                null,
                null,
                null);
    }

    @Test
    protected void isWritable() {
        assertThat(store().isWritable()).isTrue();
    }

    @Test
    protected void findsAnInsertedKeyByHashAndByIdWithEveryField() {
        ProxyKey k = newKey("keys", 0);
        ProxyKey full = new ProxyKey(
                k.id(),
                k.displayPrefix(),
                k.hash(),
                "n\u00e4me \u4f60",
                null,
                "batch",
                k.createdAt(),
                k.createdAt().plus(30, ChronoUnit.DAYS),
                null,
                null);
        store().insert(full);
        assertThat(store().findByHash(full.hash())).contains(full);
        assertThat(store().find(full.id())).contains(full);
        assertThat(store().list()).contains(full);
    }

    @Test
    protected void unknownAndMalformedIdsAndHashesAreUnknown() {
        store().insert(newKey("keys", 0));
        for (String s : List.of(
                "key_unknown",
                ProxyKeys.hash("not a stored key"),
                "",
                "..",
                "../../etc/passwd",
                "' OR '1'='1",
                "%",
                "x".repeat(10_000),
                "\u0000")) {
            assertThat(store().find(s)).as(s.length() > 50 ? "long" : s).isEmpty();
            assertThat(store().findByHash(s)).as(s.length() > 50 ? "long" : s).isEmpty();
        }
    }

    @Test
    protected void saysWhetherAnUnrevokedKeyIsUnderAPolicy() {
        String policy = "p-" + UUID.randomUUID().toString().substring(0, 8);
        assertThat(store().hasUnrevokedKeyUnder(policy)).isFalse();
        ProxyKey first = newKey(policy, 0);
        ProxyKey second = newKey(policy, 0);
        store().insert(first);
        store().insert(second);
        store().insert(newKey("other-" + policy, 0));
        assertThat(store().hasUnrevokedKeyUnder(policy)).isTrue();
        store().update(first.revoked(Instant.now().truncatedTo(ChronoUnit.MILLIS)));
        assertThat(store().hasUnrevokedKeyUnder(policy)).as("one left").isTrue();
        store().update(second.withPolicy("other-" + policy));
        assertThat(store().hasUnrevokedKeyUnder(policy))
                .as("one revoked, one moved")
                .isFalse();
        assertThat(store().hasUnrevokedKeyUnder("other-" + policy)).isTrue();
        assertThat(store().hasUnrevokedKeyUnder("' OR '1'='1")).isFalse();
    }

    @Test
    protected void listsOldestFirst() {
        ProxyKey newer = newKey("keys", 1);
        ProxyKey older = newKey("keys", 2);
        store().insert(newer);
        store().insert(older);
        List<String> ids = store().list().stream().map(ProxyKey::id).toList();
        assertThat(ids).containsSubsequence(older.id(), newer.id());
    }

    @Test
    protected void anIdOrHashIsStoredOnce() {
        ProxyKey k = newKey("keys", 0);
        store().insert(k);
        ProxyKey sameId = newKey("keys", 0);
        assertThatThrownBy(() -> store().insert(new ProxyKey(
                        k.id(),
                        sameId.displayPrefix(),
                        sameId.hash(),
                        "x",
                        null,
                        "keys",
                        sameId.createdAt(),
                        null,
                        null,
                        null)))
                .isInstanceOf(RuntimeException.class);
        ProxyKey sameHash = newKey("keys", 0);
        assertThatThrownBy(() -> store().insert(new ProxyKey(
                        sameHash.id(),
                        k.displayPrefix(),
                        k.hash(),
                        "x",
                        null,
                        "keys",
                        sameHash.createdAt(),
                        null,
                        null,
                        null)))
                .isInstanceOf(RuntimeException.class);
        assertThat(store().find(k.id())).contains(k);
        assertThat(store().find(sameHash.id())).isEmpty();
    }

    @Test
    protected void anUpdateRevokesMovesAndRotatesAKey() {
        ProxyKey k = newKey("keys", 0);
        store().insert(k);
        Instant at = Instant.now().truncatedTo(ChronoUnit.MILLIS);

        assertThat(store().update(k.revoked(at).withPolicy("batch"))).isTrue();
        ProxyKey changed = store().find(k.id()).orElseThrow();
        assertThat(changed.revokedAt()).isEqualTo(at);
        assertThat(changed.policy()).isEqualTo("batch");
        assertThat(changed.isActiveAt(at.plusSeconds(1))).isFalse();

        ProxyKeys.NewKey next = ProxyKeys.generate();
        assertThat(store().update(changed.rotated(next.hash(), next.displayPrefix())))
                .isTrue();
        assertThat(store().findByHash(k.hash())).isEmpty(); // the old secret is gone
        assertThat(store().findByHash(next.hash())).map(ProxyKey::id).contains(k.id());
        assertThat(store().find(k.id()).orElseThrow().displayPrefix()).isEqualTo(next.displayPrefix());
        assertThat(store().find(k.id()).orElseThrow().createdAt()).isEqualTo(k.createdAt());
    }

    /**
     * Revocation is final: an update that carries no revocation time (a rotation or a policy change made from
     * a copy read before a concurrent revocation) leaves the key revoked, with its first revocation time.
     */
    @Test
    protected void aRevokedKeyStaysRevokedWhateverAnUpdateCarries() {
        ProxyKey k = newKey("keys", 0);
        store().insert(k);
        Instant at = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        assertThat(store().update(k.revoked(at))).isTrue();

        // Read before the revocation, written after it: a policy change, then a rotation.
        assertThat(store().update(k.withPolicy("batch"))).isTrue();
        ProxyKeys.NewKey next = ProxyKeys.generate();
        assertThat(store().update(k.rotated(next.hash(), next.displayPrefix()))).isTrue();
        ProxyKey revokedAgain = k.rotated(next.hash(), next.displayPrefix()).revoked(at.plusSeconds(60));
        assertThat(store().update(revokedAgain)).isTrue();

        ProxyKey stored = store().find(k.id()).orElseThrow();
        assertThat(stored.revokedAt()).isEqualTo(at);
        assertThat(store().findByHash(next.hash()).orElseThrow().revokedAt()).isEqualTo(at);
        assertThat(store().findByHash(k.hash())).isEmpty();
    }

    /**
     * A replace writes only over the key it read: a change made from a copy read before another instance rotated the
     * key, moved it or revoked it changes nothing (the admin service reads it again), so the old secret never works
     * again. One from the current copy changes it.
     */
    @Test
    protected void aReplaceFromAStaleCopyChangesNothing() {
        ProxyKey read = newKey("keys", 0);
        store().insert(read);
        ProxyKeys.NewKey theirs = ProxyKeys.generate();
        ProxyKey rotatedElsewhere = read.rotated(theirs.hash(), theirs.displayPrefix());
        assertThat(store().replace(read, rotatedElsewhere)).isTrue();

        assertThat(store().replace(read, read.withPolicy("batch")))
                .as("the hash it read is gone")
                .isFalse();
        ProxyKeys.NewKey ours = ProxyKeys.generate();
        assertThat(store().replace(read, read.rotated(ours.hash(), ours.displayPrefix())))
                .isFalse();
        assertThat(store().findByHash(read.hash())).isEmpty();
        assertThat(store().findByHash(ours.hash())).isEmpty();
        assertThat(store().findByHash(theirs.hash())).map(ProxyKey::policy).contains("keys");

        ProxyKey moved = rotatedElsewhere.withPolicy("batch");
        assertThat(store().replace(rotatedElsewhere, moved)).isTrue();
        assertThat(store().replace(rotatedElsewhere, rotatedElsewhere.revoked(Instant.now())))
                .as("the policy it read is gone")
                .isFalse();
        assertThat(store().find(read.id()).orElseThrow().revokedAt()).isNull();
        assertThat(store().replace(moved, moved.revoked(Instant.now()))).isTrue();
        assertThat(store().replace(moved, moved.withPolicy("keys")))
                .as("it was revoked since")
                .isFalse();
        assertThat(store().find(read.id()).orElseThrow().policy()).isEqualTo("batch");
        assertThat(store().replace(newKey("keys", 0), newKey("keys", 0)))
                .as("unknown")
                .isFalse();
    }

    @Test
    protected void anUpdateOfAnUnknownKeyChangesNothing() {
        assertThat(store().update(newKey("keys", 0))).isFalse();
    }

    @Test
    protected void aTouchRecordsTheLastUse() {
        ProxyKey k = newKey("keys", 0);
        store().insert(k);
        Instant at = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        store().touch(k.id(), at);
        assertThat(store().find(k.id()).orElseThrow().lastUsedAt()).isEqualTo(at);
        assertThat(store().findByHash(k.hash()).orElseThrow().lastUsedAt()).isEqualTo(at);

        store().touch("key_unknown", at); // nothing to record, no failure
        store().touch("' OR '1'='1", at);
    }
}
