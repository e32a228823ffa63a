package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.Internal;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * An engine's identity sources, asked in order: the host application's own sources (if any), a proxy key ({@code Authorization: Bearer opk-...}), the host
 * application's user, a bearer JWT of the configured issuer; the first answer other than
 * {@link Resolution#ABSENT} decides. With none, the caller is anonymous at its {@link ClientAddress}: allowed
 * under {@link Policy#ANONYMOUS}, or rejected when {@code access.anonymous} is {@code deny}.
 *
 * <p>A bearer token that is neither a proxy key nor (with a JWT issuer configured) JWT-shaped is not a
 * credential of this proxy and is ignored: the SDKs always send some key, often a placeholder.
 */
@Internal
public final class IdentityResolver {
    /** What an anonymous caller gets when {@code access.anonymous} is {@code deny}. */
    static final Resolution ANONYMOUS_DENIED = Resolution.rejected("no_credential");

    private final IdentitySource[] sources;
    private final ProxyKeySource keys;
    private final ClientAddress addresses;
    private final boolean anonymousAllowed;
    private final String description;

    /**
     * @param access the configuration
     * @param keyStore where proxy keys live besides the declared ones, or {@code null}
     * @param keyExecutor where the key store's calls run
     * @param jwtExecutor where JWTs are checked (a JWKS fetch blocks)
     * @param clock the time keys and tokens expire by
     * @param applicationSources the host application's own sources, asked before the built-in ones
     * @param loginsFromOtherOrigins whether other origins may use the host application's login
     *     ({@code cors.allow-credentials}); without it a request a browser marks as another origin's is not
     *     taken as the logged-in user's ({@link HostUserSource})
     */
    public IdentityResolver(
            AccessConfig access,
            ProxyKeyStore keyStore,
            Executor keyExecutor,
            Executor jwtExecutor,
            Clock clock,
            List<IdentitySource> applicationSources,
            boolean loginsFromOtherOrigins) {
        ProxyKeySource keys = new ProxyKeySource(access.declaredKeys(), keyStore, keyExecutor, clock);
        this.keys = keys;
        List<IdentitySource> list = new ArrayList<>(applicationSources);
        list.add(keys);
        list.add(new HostUserSource(access.rolePolicies(), loginsFromOtherOrigins));
        JwtSource jwt = access.jwt() == null ? null : new JwtSource(access.jwt(), jwtExecutor, clock);
        if (jwt != null) {
            list.add(jwt);
        }
        this.sources = list.toArray(IdentitySource[]::new);
        this.addresses = new ClientAddress(access.trustedProxies(), access.forwardedHeader());
        this.anonymousAllowed = access.anonymous() == AccessConfig.Anonymous.ALLOW;
        this.description = describe(access, keys, keyStore, jwt, applicationSources.size());
    }

    /**
     * {@code store} as the admin API writes through it: a key changed through it (revoked, rotated, put under
     * another policy) leaves this resolver's key cache, its old and its new hash, as soon as the store has the
     * change. Without this a key just used would keep its old answer for up to {@link ProxyKeySource#FOUND_TTL}
     * here: a revoked key, or a rotated key's old secret, would still be let in. Other instances still take
     * up to that long.
     */
    public ProxyKeyStore forgettingChangedKeys(ProxyKeyStore store) {
        return new ProxyKeyStore() {
            @Override
            public java.util.Optional<ProxyKey> findByHash(String hash) {
                return store.findByHash(hash);
            }

            @Override
            public java.util.Optional<ProxyKey> find(String id) {
                return store.find(id);
            }

            @Override
            public List<ProxyKey> list() {
                return store.list();
            }

            @Override
            public ProxyKeyPage page(String after, int limit) {
                return store.page(after, limit);
            }

            @Override
            public boolean hasUnrevokedKeyUnder(String policy) {
                return store.hasUnrevokedKeyUnder(policy);
            }

            @Override
            public void insert(ProxyKey key) {
                store.insert(key);
                keys.forget(key.hash()); // nothing cached for a new hash, but an unknown one may be
            }

            @Override
            public boolean update(ProxyKey key) {
                java.util.Optional<ProxyKey> before = store.find(key.id());
                boolean updated = store.update(key);
                before.ifPresent(b -> keys.forget(b.hash()));
                keys.forget(key.hash());
                return updated;
            }

            @Override
            public boolean replace(ProxyKey expected, ProxyKey changed) {
                boolean replaced = store.replace(expected, changed);
                keys.forget(expected.hash());
                keys.forget(changed.hash());
                return replaced;
            }

            @Override
            public void touch(String id, java.time.Instant at) {
                store.touch(id, at);
            }

            @Override
            public boolean isWritable() {
                return store.isWritable();
            }
        };
    }

    /** Whether a JWT issuer is configured (its checks need an executor). */
    public static boolean needsJwtExecutor(AccessConfig access) {
        return access.jwt() != null;
    }

    /**
     * Who the request is: {@link Resolution.Identified} (anonymous callers included) or
     * {@link Resolution.Rejected}; never {@link Resolution#ABSENT}. Fails (exceptionally) only when a source
     * could not decide, for example a key store that is down or too busy.
     */
    public CompletableFuture<Resolution> resolve(ProxyRequest request) {
        return from(0, request);
    }

    private CompletableFuture<Resolution> from(int i, ProxyRequest request) {
        for (; i < sources.length; i++) {
            CompletableFuture<Resolution> r = sources[i].resolve(request);
            if (r.isDone() && !r.isCompletedExceptionally()) {
                if (r.join() != Resolution.ABSENT) {
                    return r;
                }
                continue; // answered at once: no allocation on the usual path
            }
            int next = i + 1;
            return r.thenCompose(res -> res == Resolution.ABSENT ? from(next, request) : r);
        }
        return CompletableFuture.completedFuture(anonymous(request));
    }

    private Resolution anonymous(ProxyRequest request) {
        if (!anonymousAllowed) {
            return ANONYMOUS_DENIED;
        }
        return Resolution.identified(Identity.anonymous(addresses.caller(request), Policy.ANONYMOUS));
    }

    /**
     * The address the caller is counted by: the connection's peer, or the client a trusted proxy names
     * ({@code access.trusted-proxies}), an IPv6 address as its {@code /64}; {@code null} when unknown. Anonymous
     * callers are known by it, and the per-client cap on upstream calls counts by it.
     */
    public String clientOf(ProxyRequest request) {
        return addresses.caller(request);
    }

    /** The start-up line: which sources are on and what anonymous callers may do (no secret in it). */
    public String description() {
        return description;
    }

    private static String describe(
            AccessConfig access, ProxyKeySource keys, ProxyKeyStore store, JwtSource jwt, int applicationSources) {
        StringBuilder b = new StringBuilder("Access: ");
        if (applicationSources > 0) {
            b.append(applicationSources).append(" application identity source(s) first; ");
        }
        b.append("proxy keys ");
        if (keys.hasKeys()) {
            b.append("on (")
                    .append(access.declaredKeys().size())
                    .append(" declared")
                    .append(store == null ? "" : ", store " + store.getClass().getSimpleName())
                    .append(")");
        } else {
            b.append("none (an opk- key gets 401)");
        }
        b.append("; host application users on (when the adapter has one); JWT ")
                .append(jwt == null ? "off" : "on (issuer " + jwt.issuer() + ")")
                .append("; anonymous callers ")
                .append(
                        access.anonymous() == AccessConfig.Anonymous.ALLOW
                                ? "allowed under policy '" + Policy.ANONYMOUS + "'"
                                : "refused (401)")
                .append("; trusted proxies: ")
                .append(access.trustedProxies().isEmpty() ? "none" : String.join(", ", access.trustedProxies()));
        return b.toString();
    }
}
