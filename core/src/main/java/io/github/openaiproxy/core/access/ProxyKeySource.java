package io.github.openaiproxy.core.access;

import com.github.benmanes.caffeine.cache.AsyncLoadingCache;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;
import io.github.openaiproxy.core.http.ProxyRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Proxy keys sent as {@code Authorization: Bearer opk-...}. A token with the prefix is ours whatever follows:
 * a malformed one is refused without a lookup, a well-formed one is looked up by its SHA-256, first among the
 * keys declared in configuration, then in the store through a cache. The cache holds a key for at most
 * {@link #FOUND_TTL}, so a key revoked on another instance is refused here within 5 seconds; an unknown hash
 * is remembered for {@link #MISSING_TTL}, both counted from the store read, so a flood of random keys does not reach the database. Both are
 * bounded. Store calls run on the given executor, never on the request's thread; concurrent misses for one
 * hash share one call.
 *
 * <p>The stored hash is compared with the request's digest in constant time. The key itself is never logged,
 * kept (only its hash is), or put into a message.
 */
final class ProxyKeySource implements IdentitySource {
    static final Duration FOUND_TTL = Duration.ofSeconds(4);
    static final Duration MISSING_TTL = Duration.ofSeconds(2);
    static final Duration TOUCH_INTERVAL = Duration.ofMinutes(1);
    private static final int CACHE_SIZE = 10_000;

    static final Resolution MALFORMED = Resolution.rejected("malformed_key");
    static final Resolution UNKNOWN = Resolution.rejected("unknown_key");
    static final Resolution EXPIRED = Resolution.rejected("expired_key");
    static final Resolution REVOKED = Resolution.rejected("revoked_key");

    private final Map<String, Found> declared;
    private final ProxyKeyStore store;
    private final Executor executor;
    private final Clock clock;
    private final AsyncLoadingCache<String, Found> cache;
    private final Cache<String, Boolean> touched;
    private final Ticker ticker;

    /**
     * @param declared the keys declared in configuration (found without a lookup, never touched)
     * @param store the store, or {@code null} for declared keys only
     * @param executor where store calls run
     * @param clock the time keys expire by; the caches follow it too
     */
    ProxyKeySource(List<ProxyKey> declared, ProxyKeyStore store, Executor executor, Clock clock) {
        Map<String, Found> d = new HashMap<>();
        for (ProxyKey k : declared) {
            d.put(k.hash(), Found.of(k, 0)); // never cached: the read time does not matter
        }
        this.declared = Map.copyOf(d);
        this.store = store;
        this.executor = executor;
        this.clock = clock;
        this.ticker = ticker(clock);
        this.cache = Caffeine.newBuilder()
                .maximumSize(CACHE_SIZE)
                .ticker(ticker)
                .executor(Runnable::run) // cache upkeep is cheap: no pool of its own
                .expireAfter(new Expiry<String, Found>() {
                    @Override
                    public long expireAfterCreate(String hash, Found found, long now) {
                        // Counted from the store read, not from when the cache files the answer.
                        long ttl = (found.key == null ? MISSING_TTL : FOUND_TTL).toNanos();
                        return Math.max(0, ttl - (now - found.readAt));
                    }

                    @Override
                    public long expireAfterUpdate(String hash, Found found, long now, long current) {
                        return expireAfterCreate(hash, found, now);
                    }

                    @Override
                    public long expireAfterRead(String hash, Found found, long now, long current) {
                        return current; // reads never extend a key's life in the cache
                    }
                })
                .buildAsync((hash, ignored) -> load(hash));
        this.touched = Caffeine.newBuilder()
                .maximumSize(CACHE_SIZE)
                .ticker(ticker)
                .executor(Runnable::run)
                .expireAfterWrite(TOUCH_INTERVAL)
                .build();
    }

    /** The caches' time: the system's, or a test's clock (relative: Caffeine adds long durations to it). */
    static Ticker ticker(Clock clock) {
        if (clock.equals(Clock.systemUTC())) {
            return Ticker.systemTicker();
        }
        long origin = clock.millis();
        return () -> (clock.millis() - origin) * 1_000_000L;
    }

    /**
     * Drops what the cache holds for this hash, so the next request with it reads the store again: called when
     * this instance changed the key (revoked, rotated, moved to another policy), which then applies at once
     * here. A lookup already under way still answers from what it read.
     */
    void forget(String hash) {
        cache.synchronous().invalidate(hash);
    }

    /** Whether any key can be found at all (declared or in a store). */
    boolean hasKeys() {
        return store != null || !declared.isEmpty();
    }

    @Override
    public CompletableFuture<Resolution> resolve(ProxyRequest request) {
        String token = Bearer.token(request);
        return token != null && ProxyKeys.isProxyKeyShaped(token) ? resolve(token) : Bearer.ABSENT_NOW;
    }

    /** Judges a token that has the proxy key prefix. */
    CompletableFuture<Resolution> resolve(String token) {
        if (!ProxyKeys.isWellFormed(token)) {
            return CompletableFuture.completedFuture(MALFORMED);
        }
        byte[] digest = sha256(token);
        String hash = HexFormat.of().formatHex(digest);
        Found d = declared.get(hash);
        if (d != null) {
            return CompletableFuture.completedFuture(judge(digest, d, false));
        }
        if (store == null) {
            return CompletableFuture.completedFuture(UNKNOWN);
        }
        CompletableFuture<Found> found = cache.get(hash);
        if (found.isDone() && !found.isCompletedExceptionally() && isStale(found.join())) {
            // The cache's own expiry is lazy and, for an answer that arrived while it was being filed, can run
            // late: the bound on how long a revoked key keeps working is checked here, exactly.
            cache.asMap().remove(hash, found);
            found = cache.get(hash);
        }
        if (found.isDone() && !found.isCompletedExceptionally()) {
            return CompletableFuture.completedFuture(judge(digest, found.join(), true));
        }
        return found.thenApply(f -> judge(digest, f, true));
    }

    private boolean isStale(Found found) {
        long ttl = (found.key == null ? MISSING_TTL : FOUND_TTL).toNanos();
        return ticker.read() - found.readAt >= ttl;
    }

    private Resolution judge(byte[] digest, Found found, boolean touch) {
        if (found.key == null || !MessageDigest.isEqual(digest, found.hash)) {
            return UNKNOWN;
        }
        ProxyKey key = found.key;
        Instant now = clock.instant();
        if (key.revokedAt() != null) {
            return REVOKED;
        }
        if (!key.isActiveAt(now)) {
            return EXPIRED;
        }
        if (touch) {
            touch(key, now);
        }
        return found.resolution;
    }

    /** Records the use in the store at most once per {@link #TOUCH_INTERVAL} per key, off the request's thread. */
    private void touch(ProxyKey key, Instant now) {
        if (touched.asMap().putIfAbsent(key.id(), Boolean.TRUE) != null) {
            return;
        }
        try {
            executor.execute(() -> {
                try {
                    store.touch(key.id(), now);
                } catch (RuntimeException e) {
                    AccessLog.LOG.log(
                            System.Logger.Level.DEBUG, "could not record the use of key {0}: {1}", key.id(), e);
                }
            });
        } catch (RejectedExecutionException e) {
            touched.invalidate(key.id()); // busy: the next request tries again
        }
    }

    private CompletableFuture<Found> load(String hash) {
        CompletableFuture<Found> f = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                try {
                    Optional<ProxyKey> key = store.findByHash(hash);
                    long now = ticker.read();
                    f.complete(key.map(k -> Found.of(k, now)).orElseGet(() -> Found.missing(now)));
                } catch (Throwable t) {
                    f.completeExceptionally(t); // not cached: the next request asks again
                }
            });
        } catch (RejectedExecutionException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /**
     * A key as the cache holds it: its hash as bytes, its ready answer, and when the store was read (in the
     * caches' time), which its time in the cache counts from; {@link #missing} for no key.
     */
    private static final class Found {
        final ProxyKey key;
        final byte[] hash;
        final Resolution resolution;
        final long readAt;

        private Found(ProxyKey key, byte[] hash, Resolution resolution, long readAt) {
            this.key = key;
            this.hash = hash;
            this.resolution = resolution;
            this.readAt = readAt;
        }

        static Found missing(long readAt) {
            return new Found(null, new byte[0], null, readAt);
        }

        static Found of(ProxyKey key, long readAt) {
            byte[] hash;
            try {
                hash = HexFormat.of().parseHex(key.hash());
            } catch (IllegalArgumentException e) {
                hash = new byte[0]; // a store with a broken hash: the key matches nothing
            }
            return new Found(key, hash, Resolution.identified(Identity.proxyKey(key)), readAt);
        }
    }
}
