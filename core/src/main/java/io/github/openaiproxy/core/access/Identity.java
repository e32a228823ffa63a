package io.github.openaiproxy.core.access;

import java.util.Objects;
import java.util.Optional;

/**
 * Who a request runs for, and under which policy. Resolved once per request, before the body is read; a
 * module route's sub-requests run under their client request's identity.
 *
 * <p>{@link #toString()} names the kind and policy only: a subject may be a user name or an address, which
 * do not belong in logs or metric tags.
 */
public final class Identity {
    /** Where an identity comes from. */
    public enum Kind {
        /** A proxy key sent as {@code Authorization: Bearer}. */
        PROXY_KEY,
        /** The host application's authenticated user. */
        USER,
        /** A bearer JWT from the configured OpenID Connect issuer. */
        TOKEN,
        /** No credential: the client's address. */
        ANONYMOUS
    }

    private final Kind kind;
    private final String subject;
    private final String owner;
    private final String policy;

    private Identity(Kind kind, String subject, String owner, String policy) {
        this.kind = Objects.requireNonNull(kind, "kind");
        this.subject = Objects.requireNonNull(subject, "subject");
        this.owner = owner;
        this.policy = Objects.requireNonNull(policy, "policy");
    }

    /** A proxy key's caller: the subject is the key's id (never the key). */
    public static Identity proxyKey(ProxyKey key) {
        return new Identity(Kind.PROXY_KEY, key.id(), key.owner(), key.policy());
    }

    /** The host application's user. */
    public static Identity user(String name, String policy) {
        return new Identity(Kind.USER, name, name, policy);
    }

    /** A JWT's subject; {@code subject} should be unique across issuers, for example {@code issuer#sub}. */
    public static Identity token(String subject, String policy) {
        return new Identity(Kind.TOKEN, subject, subject, policy);
    }

    /** An anonymous caller at this address ({@code unknown} when the adapter gave none). */
    public static Identity anonymous(String address, String policy) {
        return new Identity(Kind.ANONYMOUS, address == null ? "unknown" : address, null, policy);
    }

    /** Where this identity comes from. */
    public Kind kind() {
        return kind;
    }

    /** The key's id, the user's name, the token's subject, or the anonymous caller's address. */
    public String subject() {
        return subject;
    }

    /** The owner (a key's owner, a user, a token's subject); empty for anonymous callers and unowned keys. */
    public Optional<String> owner() {
        return Optional.ofNullable(owner);
    }

    /** The name of the policy the request runs under. */
    public String policy() {
        return policy;
    }

    /** Whether this is an anonymous caller. */
    public boolean isAnonymous() {
        return kind == Kind.ANONYMOUS;
    }

    /**
     * What owns what this identity creates (sessions, stored images): {@code kind:subject}, stable across a
     * key's rotation; empty for anonymous callers, whose creations are reachable by their unguessable id.
     */
    public Optional<String> ownerId() {
        return kind == Kind.ANONYMOUS
                ? Optional.empty()
                : Optional.of(kind.name().toLowerCase(java.util.Locale.ROOT) + ":" + subject);
    }

    /** The same caller under another policy. */
    public Identity withPolicy(String policy) {
        return new Identity(kind, subject, owner, policy);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Identity i
                && i.kind == kind
                && i.subject.equals(subject)
                && Objects.equals(i.owner, owner)
                && i.policy.equals(policy);
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, subject, owner, policy);
    }

    @Override
    public String toString() {
        return "Identity[" + kind + ", policy=" + policy + "]";
    }
}
