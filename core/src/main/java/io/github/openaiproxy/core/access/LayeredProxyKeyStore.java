package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The keys declared in configuration over a writable store: lookups see both (the declared ones first), new
 * keys and changes go to the writable store. This is the store the engine looks keys up in when keys are
 * declared; the admin API refuses to change a declared key (409) before it gets here.
 */
public final class LayeredProxyKeyStore implements ProxyKeyStore {
    private final ProxyKeyStore declared;
    private final ProxyKeyStore stored;

    /**
     * @param declared the read-only keys of the configuration
     * @param stored where keys are created and changed
     */
    public LayeredProxyKeyStore(ProxyKeyStore declared, ProxyKeyStore stored) {
        this.declared = Objects.requireNonNull(declared, "declared");
        this.stored = Objects.requireNonNull(stored, "stored");
    }

    /** {@code stored} alone when nothing is declared, else both. */
    public static ProxyKeyStore of(List<ProxyKey> declaredKeys, ProxyKeyStore stored) {
        return declaredKeys.isEmpty()
                ? stored
                : new LayeredProxyKeyStore(new DeclaredProxyKeyStore(declaredKeys), stored);
    }

    @Override
    public Optional<ProxyKey> findByHash(String hash) {
        Optional<ProxyKey> d = declared.findByHash(hash);
        return d.isPresent() ? d : stored.findByHash(hash);
    }

    @Override
    public Optional<ProxyKey> find(String id) {
        Optional<ProxyKey> d = declared.find(id);
        return d.isPresent() ? d : stored.find(id);
    }

    @Override
    public List<ProxyKey> list() {
        List<ProxyKey> all = new ArrayList<>(declared.list());
        all.addAll(stored.list());
        return all;
    }

    /**
     * The declared keys first, then the stored ones, as {@link #list()} puts them, each in id order: a page that
     * starts after a declared key's id goes on with the declared keys, and on into the stored ones when they end.
     */
    @Override
    public ProxyKeyPage page(String after, int limit) {
        ProxyKeyPage.check(after, limit);
        if (after != null && declared.find(after).isEmpty()) {
            return stored.page(after, limit);
        }
        ProxyKeyPage first = declared.page(after, limit);
        if (first.hasMore()) {
            return first;
        }
        int left = limit - first.keys().size();
        if (left == 0) {
            // Full with the last declared keys: more follow when there is a stored one.
            return new ProxyKeyPage(first.keys(), !stored.page(null, 1).keys().isEmpty());
        }
        ProxyKeyPage rest = stored.page(null, left);
        List<ProxyKey> keys = new ArrayList<>(first.keys());
        keys.addAll(rest.keys());
        return new ProxyKeyPage(keys, rest.hasMore());
    }

    @Override
    public boolean hasUnrevokedKeyUnder(String policy) {
        return declared.hasUnrevokedKeyUnder(policy) || stored.hasUnrevokedKeyUnder(policy);
    }

    @Override
    public void insert(ProxyKey key) {
        stored.insert(key);
    }

    @Override
    public boolean update(ProxyKey key) {
        if (declared.find(key.id()).isPresent()) {
            throw new UnsupportedOperationException("keys declared in configuration are read-only");
        }
        return stored.update(key);
    }

    @Override
    public boolean replace(ProxyKey expected, ProxyKey changed) {
        if (declared.find(changed.id()).isPresent()) {
            throw new UnsupportedOperationException("keys declared in configuration are read-only");
        }
        return stored.replace(expected, changed);
    }

    @Override
    public void touch(String id, Instant at) {
        if (declared.find(id).isPresent()) {
            declared.touch(id, at);
        } else {
            stored.touch(id, at);
        }
    }

    @Override
    public boolean isWritable() {
        return stored.isWritable();
    }
}
