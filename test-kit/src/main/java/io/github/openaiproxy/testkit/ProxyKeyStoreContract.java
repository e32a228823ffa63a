package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyPage;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
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

    /** Every key of the store, read a page of {@code limit} at a time; each page checked on the way. */
    protected List<ProxyKey> allPages(int limit) {
        List<ProxyKey> all = new ArrayList<>();
        String after = null;
        for (int pages = 0; ; pages++) {
            assertThat(pages).as("pages of %d keys", limit).isLessThan(100_000);
            ProxyKeyPage page = store().page(after, limit);
            assertThat(page.keys().size()).isLessThanOrEqualTo(limit);
            all.addAll(page.keys());
            if (!page.hasMore()) {
                assertThat(page.nextAfter()).isNull();
                return all;
            }
            assertThat(page.keys()).as("a page with more after it is full").hasSize(limit);
            assertThat(page.nextAfter())
                    .isEqualTo(page.keys().get(page.keys().size() - 1).id());
            after = page.nextAfter();
        }
    }

    private static List<String> ids(List<ProxyKey> keys) {
        return keys.stream().map(ProxyKey::id).toList();
    }

    /** Paged, every key is answered once, in id order, the revoked ones too, and as {@link ProxyKeyStore#list()}. */
    @Test
    protected void pagesAnswerEveryKeyOnceInIdOrder() {
        List<ProxyKey> mine = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            mine.add(newKey("keys", i));
            store().insert(mine.get(i));
        }
        ProxyKey revoked = mine.get(3).revoked(Instant.now().truncatedTo(ChronoUnit.MILLIS));
        store().update(revoked);
        mine.set(3, revoked);
        List<String> sortedIds = ids(mine).stream().sorted().toList();
        for (int limit : List.of(1, 2, 3, 1000, Integer.MAX_VALUE)) {
            List<ProxyKey> all = allPages(limit);
            assertThat(ids(all)).as("limit %d", limit).doesNotHaveDuplicates();
            assertThat(all).as("limit %d", limit).containsAll(mine);
            // The keys made here have ids of the same shape (key_ and hex), ordered alike by every collation.
            assertThat(ids(all).stream().filter(sortedIds::contains).toList())
                    .as("limit %d", limit)
                    .containsExactlyElementsOf(sortedIds);
            assertThat(ids(all)).as("limit %d", limit).containsExactlyInAnyOrderElementsOf(ids(store().list()));
        }
    }

    /**
     * Paging by id, a key that exists throughout is answered exactly once while others are added, revoked and
     * rotated between pages; the page after an id that is gone goes on from where it was.
     */
    @Test
    protected void pagingWhileKeysChangeNeverSkipsOrRepeatsAKeyThatStays() {
        List<ProxyKey> stay = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            stay.add(newKey("keys", 0));
            store().insert(stay.get(i));
        }
        List<ProxyKey> seen = new ArrayList<>();
        ProxyKeyPage page = store().page(null, 2);
        seen.addAll(page.keys());
        for (int round = 0; page.hasMore(); round++) {
            // Between pages: new keys, a revocation and a rotation.
            store().insert(newKey("keys", 0));
            ProxyKey revoke = stay.get(round % stay.size());
            store().update(revoke.revoked(Instant.now().truncatedTo(ChronoUnit.MILLIS)));
            ProxyKey rotate = stay.get((round + 3) % stay.size());
            ProxyKeys.NewKey next = ProxyKeys.generate();
            store().update(store().find(rotate.id()).orElseThrow().rotated(next.hash(), next.displayPrefix()));
            page = store().page(page.nextAfter(), 2);
            seen.addAll(page.keys());
        }
        assertThat(ids(seen)).doesNotHaveDuplicates().containsAll(ids(stay));
    }

    @Test
    protected void aPageStartsAfterAnyIdEvenOneThatIsNotStored() {
        List<ProxyKey> mine = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            mine.add(newKey("keys", 0));
            store().insert(mine.get(i));
        }
        List<String> sorted = ids(mine).stream().sorted().toList();
        // Between the second and the third of the keys made here, in every collation's order.
        String between = sorted.get(1) + "0";
        List<String> after = new ArrayList<>();
        String from = between;
        ProxyKeyPage page;
        do {
            page = store().page(from, 3);
            after.addAll(ids(page.keys()));
            from = page.nextAfter();
        } while (page.hasMore());
        assertThat(after).contains(sorted.get(2), sorted.get(3)).doesNotContain(sorted.get(0), sorted.get(1));
        assertThat(store().page("zzzz", 10).keys()).as("after every key").isEmpty();
        assertThat(store().page("zzzz", 10).hasMore()).isFalse();
    }

    /**
     * An {@code after} that is no id of the proxy's shape (a forged cursor, an injection) and a limit below 1 are
     * refused as arguments, never passed on to the storage nor answered as a failure of the store.
     */
    @Test
    protected void aMalformedAfterOrLimitIsRefused() {
        store().insert(newKey("keys", 0));
        for (String s : List.of("", "' OR '1'='1", "%", "../x", "a b", "x".repeat(81), "\u0000", "key_\u202e")) {
            assertThatThrownBy(() -> store().page(s, 10))
                    .as(s.length() > 50 ? "long" : s)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        for (int limit : List.of(0, -1, Integer.MIN_VALUE)) {
            assertThatThrownBy(() -> store().page(null, limit))
                    .as("limit %d", limit)
                    .isInstanceOf(IllegalArgumentException.class);
        }
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
