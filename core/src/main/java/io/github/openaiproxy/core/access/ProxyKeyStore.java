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

    /** All keys, oldest first. */
    List<ProxyKey> list();

    /** Stores a new key. */
    void insert(ProxyKey key);

    /**
     * Replaces the stored key with the same id; {@code false} when there is none. Revocation is final: a key
     * stored as revoked keeps its revocation time whatever {@code key} carries, so a change made from a copy
     * read before a concurrent revocation (a rotation, a new policy) cannot bring the key back.
     */
    boolean update(ProxyKey key);

    /** Records a use (the engine calls this at most once a minute per key). */
    void touch(String id, Instant at);

    /** Whether keys can be created and changed here ({@code false} for keys declared in configuration). */
    default boolean isWritable() {
        return true;
    }
}
