package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.Objects;

/**
 * A proxy key as it is stored: its hash and what the admin API shows, never the key itself (which is shown
 * once, when created, by {@link ProxyKeys#generate()}).
 *
 * @param id a stable, non-secret id; kept when the key is rotated, so what the key owns stays its own
 * @param displayPrefix the first characters of the key, to recognise it in a list
 * @param hash the SHA-256 of the key, lower-case hex ({@link ProxyKeys#hash(String)})
 * @param name what the key is for
 * @param owner who the key belongs to, or {@code null}
 * @param policy the name of the policy requests with this key run under
 * @param createdAt when it was created
 * @param expiresAt when it stops working, or {@code null} for never
 * @param revokedAt when it was revoked, or {@code null}
 * @param lastUsedAt when it last made a request (updated at most once a minute), or {@code null}
 */
public record ProxyKey(
        String id,
        String displayPrefix,
        String hash,
        String name,
        String owner,
        String policy,
        Instant createdAt,
        Instant expiresAt,
        Instant revokedAt,
        Instant lastUsedAt) {
    public ProxyKey {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(displayPrefix, "displayPrefix");
        Objects.requireNonNull(hash, "hash");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(createdAt, "createdAt");
    }

    /** Whether the key may be used at {@code now}: not revoked and not expired. */
    public boolean isActiveAt(Instant now) {
        return revokedAt == null && (expiresAt == null || now.isBefore(expiresAt));
    }

    /** This key, revoked at {@code at}. */
    public ProxyKey revoked(Instant at) {
        return new ProxyKey(id, displayPrefix, hash, name, owner, policy, createdAt, expiresAt, at, lastUsedAt);
    }

    /** This key under another policy. */
    public ProxyKey withPolicy(String newPolicy) {
        return new ProxyKey(
                id, displayPrefix, hash, name, owner, newPolicy, createdAt, expiresAt, revokedAt, lastUsedAt);
    }

    /** This key with a new secret (same id, owner and policy). */
    public ProxyKey rotated(String newHash, String newDisplayPrefix) {
        return new ProxyKey(
                id, newDisplayPrefix, newHash, name, owner, policy, createdAt, expiresAt, revokedAt, lastUsedAt);
    }

    /** This key, last used at {@code at}. */
    public ProxyKey usedAt(Instant at) {
        return new ProxyKey(id, displayPrefix, hash, name, owner, policy, createdAt, expiresAt, revokedAt, at);
    }

    @Override
    public String toString() {
        // The hash is left out: it is not the key, but it has no business in logs either.
        return "ProxyKey[" + id + ", " + displayPrefix + "..., " + name + ", policy=" + policy + "]";
    }
}
