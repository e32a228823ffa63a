package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * SPI: where proxy keys are kept (in memory, a database, or declared in configuration). Calls may block; the
 * engine makes them on its store executor and through a cache, never on a request's I/O thread.
 */
public interface ProxyKeyStore {
    /** The key with this hash ({@link ProxyKeys#hash(String)}), active or not. */
    Optional<ProxyKey> findByHash(String hash);

    /** The key with this id. */
    Optional<ProxyKey> find(String id);

    /** All keys, oldest first. Unbounded: the admin API lists keys a {@linkplain #page page} at a time. */
    List<ProxyKey> list();

    /**
     * At most {@code limit} keys whose id comes after {@code after} in the store's order of ids (from the first
     * key when {@code after} is {@code null}), and whether more follow. Paging by id, a key that exists from the
     * first page to the last is answered exactly once, whatever keys are added, revoked or rotated meanwhile (an
     * id never changes); {@code after} need not be the id of a key that still exists.
     *
     * <p>The default sorts {@link #list()}, every key, by {@link String#compareTo}; a store that may hold many
     * keys should answer it with a bounded query, as the in-memory and JDBC stores do, and a store that wraps
     * another should pass it on.
     *
     * @param after {@code null}, or the id a page ended with ({@link ProxyKeyPage#nextAfter()}); any id of
     *     {@linkplain ProxyKeyPage#isPageableId the shape of the proxy's ids}
     * @param limit the most keys answered, at least 1
     * @throws IllegalArgumentException for an {@code after} of another shape, or a {@code limit} below 1
     */
    default ProxyKeyPage page(String after, int limit) {
        ProxyKeyPage.check(after, limit);
        return ProxyKeyPage.of(
                list().stream()
                        .filter(k -> after == null || k.id().compareTo(after) > 0)
                        .sorted(java.util.Comparator.comparing(ProxyKey::id))
                        .limit(ProxyKeyPage.oneMore(limit))
                        .toList(),
                limit);
    }

    /**
     * Whether a key that is not revoked is under {@code policy} (an expired one counts): the admin API's check before
     * it deletes a policy. The default reads {@link #list()}, every key; a store that may hold many keys should
     * answer it with a bounded query, as the in-memory and JDBC stores do, and a store that wraps another should pass
     * it on.
     */
    default boolean hasUnrevokedKeyUnder(String policy) {
        return list().stream().anyMatch(k -> k.policy().equals(policy) && k.revokedAt() == null);
    }

    /** Stores a new key. */
    void insert(ProxyKey key);

    /**
     * Replaces the stored key with the same id; {@code false} when there is none. Revocation is final: a key
     * stored as revoked keeps its revocation time whatever {@code key} carries, so a change made from a copy
     * read before a concurrent revocation (a rotation, a new policy) cannot bring the key back.
     */
    boolean update(ProxyKey key);

    /**
     * Replaces the stored key with {@code changed} only if it is still {@code expected} in what an admin change
     * reads: its hash, its policy and whether it is revoked. {@code false} when it is not (another instance rotated,
     * moved or revoked it in the meantime; the caller reads it again) or when there is none. Without it, a change
     * made from a copy read before another instance's rotation wrote the old hash back: the old secret worked again
     * and the new one did not. A store that several instances share must override this; the default, enough for a
     * store of one process (the admin service changes keys under its own lock), is {@link #update(ProxyKey)}.
     */
    default boolean replace(ProxyKey expected, ProxyKey changed) {
        return update(changed);
    }

    /** Records a use (the engine calls this at most once a minute per key). */
    void touch(String id, Instant at);

    /** Whether keys can be created and changed here ({@code false} for keys declared in configuration). */
    default boolean isWritable() {
        return true;
    }
}
