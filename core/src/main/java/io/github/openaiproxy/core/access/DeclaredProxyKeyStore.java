package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The keys declared in configuration ({@link DeclaredProxyKeys}) as a read-only {@link ProxyKeyStore}: it
 * cannot insert or update ({@link #isWritable()} is {@code false}); the last use of each key is kept in memory.
 */
public final class DeclaredProxyKeyStore implements ProxyKeyStore {
    private final Map<String, ProxyKey> byHash = new LinkedHashMap<>();
    private final Map<String, ProxyKey> byId = new LinkedHashMap<>();
    /** The same keys in id order, for pages. */
    private final NavigableMap<String, ProxyKey> sorted = new TreeMap<>();

    private final Map<String, Instant> lastUsed = new ConcurrentHashMap<>();

    /** A view of these keys (as {@link AccessConfig#declaredKeys()} holds them). */
    public DeclaredProxyKeyStore(List<ProxyKey> keys) {
        for (ProxyKey k : keys) {
            byHash.put(k.hash(), k);
            byId.put(k.id(), k);
            sorted.put(k.id(), k);
        }
    }

    @Override
    public Optional<ProxyKey> findByHash(String hash) {
        return hash == null
                ? Optional.empty()
                : Optional.ofNullable(byHash.get(hash)).map(this::withLastUse);
    }

    @Override
    public Optional<ProxyKey> find(String id) {
        return id == null ? Optional.empty() : Optional.ofNullable(byId.get(id)).map(this::withLastUse);
    }

    @Override
    public List<ProxyKey> list() {
        return byId.values().stream().map(this::withLastUse).toList();
    }

    @Override
    public ProxyKeyPage page(String after, int limit) {
        ProxyKeyPage.check(after, limit);
        Map<String, ProxyKey> from = after == null ? sorted : sorted.tailMap(after, false);
        return ProxyKeyPage.of(
                from.values().stream()
                        .limit(ProxyKeyPage.oneMore(limit))
                        .map(this::withLastUse)
                        .toList(),
                limit);
    }

    /** Refused: declared keys change with the configuration. */
    @Override
    public void insert(ProxyKey key) {
        throw new UnsupportedOperationException("keys declared in configuration are read-only");
    }

    /** Refused: declared keys change with the configuration. */
    @Override
    public boolean update(ProxyKey key) {
        throw new UnsupportedOperationException("keys declared in configuration are read-only");
    }

    @Override
    public void touch(String id, Instant at) {
        if (id != null && byId.containsKey(id)) {
            lastUsed.merge(id, Objects.requireNonNull(at, "at"), (a, b) -> a.isAfter(b) ? a : b);
        }
    }

    @Override
    public boolean isWritable() {
        return false;
    }

    private ProxyKey withLastUse(ProxyKey k) {
        Instant at = lastUsed.get(k.id());
        return at == null ? k : k.usedAt(at);
    }
}
