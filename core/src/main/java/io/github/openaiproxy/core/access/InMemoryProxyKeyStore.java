package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * Proxy keys kept in memory, lost on restart: for tests, a single instance, or keys an application creates at
 * start. Thread-safe; its calls never block, so the engine makes them without an executor. Keys live by id,
 * sorted (a page reads from its place on, not every key); a second index by hash serves lookups.
 */
public final class InMemoryProxyKeyStore implements ProxyKeyStore {
    private final NavigableMap<String, ProxyKey> byId = new ConcurrentSkipListMap<>();
    private final Map<String, String> idByHash = new ConcurrentHashMap<>();

    /** An empty store. */
    public InMemoryProxyKeyStore() {}

    /** A store holding these keys. */
    public static InMemoryProxyKeyStore of(ProxyKey... keys) {
        InMemoryProxyKeyStore store = new InMemoryProxyKeyStore();
        for (ProxyKey k : keys) {
            store.insert(k);
        }
        return store;
    }

    @Override
    public Optional<ProxyKey> findByHash(String hash) {
        String id = idByHash.get(hash);
        return id == null ? Optional.empty() : Optional.ofNullable(byId.get(id));
    }

    @Override
    public Optional<ProxyKey> find(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    @Override
    public List<ProxyKey> list() {
        List<ProxyKey> all = new ArrayList<>(byId.values());
        all.sort(Comparator.comparing(ProxyKey::createdAt).thenComparing(ProxyKey::id));
        return all;
    }

    /** Reads the keys from the page's place on, in id order, and no further than it needs. */
    @Override
    public ProxyKeyPage page(String after, int limit) {
        ProxyKeyPage.check(after, limit);
        Map<String, ProxyKey> from = after == null ? byId : byId.tailMap(after, false);
        return ProxyKeyPage.of(
                from.values().stream().limit(ProxyKeyPage.oneMore(limit)).toList(), limit);
    }

    /** Looks through the keys without copying or sorting them, and stops at the first one under the policy. */
    @Override
    public boolean hasUnrevokedKeyUnder(String policy) {
        return byId.values().stream().anyMatch(k -> k.policy().equals(policy) && k.revokedAt() == null);
    }

    @Override
    public synchronized void insert(ProxyKey key) {
        Objects.requireNonNull(key, "key");
        if (byId.containsKey(key.id()) || idByHash.containsKey(key.hash())) {
            throw new IllegalArgumentException("a key with this id or hash exists: " + key.id());
        }
        byId.put(key.id(), key);
        idByHash.put(key.hash(), key.id());
    }

    @Override
    public synchronized boolean replace(ProxyKey expected, ProxyKey changed) {
        ProxyKey old = byId.get(changed.id());
        if (old == null
                || !old.hash().equals(expected.hash())
                || !old.policy().equals(expected.policy())
                || (old.revokedAt() == null) != (expected.revokedAt() == null)) {
            return false;
        }
        return update(changed);
    }

    @Override
    public synchronized boolean update(ProxyKey key) {
        ProxyKey old = byId.get(key.id());
        if (old == null) {
            return false;
        }
        String holder = idByHash.get(key.hash());
        if (holder != null && !holder.equals(key.id())) {
            throw new IllegalArgumentException("another key has this hash: " + key.id());
        }
        // The last use is the engine's to record (touch), never an admin change's; a revocation is final.
        ProxyKey kept = key.usedAt(old.lastUsedAt());
        byId.put(key.id(), old.revokedAt() == null ? kept : kept.revoked(old.revokedAt()));
        if (!old.hash().equals(key.hash())) {
            // Rotated: the old secret stops working at once.
            idByHash.remove(old.hash());
            idByHash.put(key.hash(), key.id());
        }
        return true;
    }

    @Override
    public void touch(String id, Instant at) {
        byId.computeIfPresent(id, (k, key) -> key.usedAt(at));
    }
}
