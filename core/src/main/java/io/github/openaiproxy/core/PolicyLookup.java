package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyStore;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Finds a policy by name: the configured ones first (a map read, on the request's thread), then those kept
 * in a {@link PolicyStore}, whose blocking calls run on one thread of their own and whose answers (found or
 * not) are kept for {@link #TIME_TO_LIVE_NANOS}, so a change made through the admin API reaches every
 * instance within seconds. A store that fails is not cached: the next request asks again.
 */
final class PolicyLookup implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());
    /** How long a stored policy (or its absence) is believed. */
    static final long TIME_TO_LIVE_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** Most names cached; past it the cache starts over (names come from keys and roles, not from clients). */
    private static final int MAX_CACHED = 10_000;

    private final Map<String, Policy> configured;
    private final PolicyStore store;
    private final ThreadPoolExecutor thread;
    private final ConcurrentHashMap<String, Cached> cache = new ConcurrentHashMap<>();
    /** The unknown names already logged, so that a misconfigured key does not flood the log. */
    private final Set<String> logged = ConcurrentHashMap.newKeySet();

    private final java.util.function.LongSupplier nanoTime;

    private record Cached(CompletableFuture<Optional<Policy>> policy, long loadedAt) {}

    PolicyLookup(Map<String, Policy> configured, PolicyStore store) {
        this(configured, store, System::nanoTime);
    }

    /** With a clock, for tests of the cache's time to live. */
    PolicyLookup(Map<String, Policy> configured, PolicyStore store, java.util.function.LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.configured = configured;
        this.store = store;
        this.thread = store == null
                ? null
                : new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(1000), r -> {
                    Thread t = new Thread(r, "openai-proxy-policies");
                    t.setDaemon(true);
                    return t;
                });
    }

    /**
     * The configured policies that nothing in the configuration refers to: neither a default policy, nor the
     * policy of a role or of a declared key. Keys kept in a store may still use them, but a name here is often a
     * misspelt one (for example {@code key} for {@code keys}), which leaves the intended policy unrestricted:
     * the engine says so at start.
     */
    static java.util.SortedSet<String> unreferenced(io.github.openaiproxy.core.access.AccessConfig access) {
        java.util.SortedSet<String> names =
                new java.util.TreeSet<>(access.policies().keySet());
        names.removeAll(List.of(Policy.KEYS, Policy.USERS, Policy.ANONYMOUS));
        names.removeAll(access.rolePolicies().values());
        access.declaredKeys().forEach(k -> names.remove(k.policy()));
        return names;
    }

    /** The configured policy with this name, or {@code null} (then ask {@link #stored}). */
    Policy configured(String name) {
        return configured.get(name);
    }

    /**
     * The stored policy with this name, empty when there is none (or no store); fails when the store does.
     */
    CompletableFuture<Optional<Policy>> stored(String name) {
        if (store == null) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        long now = nanoTime.getAsLong();
        Cached c = cache.get(name);
        if (c != null && now - c.loadedAt() < TIME_TO_LIVE_NANOS && !c.policy().isCompletedExceptionally()) {
            return c.policy();
        }
        if (cache.size() >= MAX_CACHED) {
            cache.clear();
        }
        CompletableFuture<Optional<Policy>> load = new CompletableFuture<>();
        Cached fresh = new Cached(load, now);
        Cached won =
                c == null ? cache.putIfAbsent(name, fresh) : cache.replace(name, c, fresh) ? null : cache.get(name);
        if (won != null && won != fresh) {
            return won.policy(); // another request loads it right now
        }
        try {
            thread.execute(() -> {
                try {
                    load.complete(store.find(name));
                } catch (RuntimeException e) {
                    cache.remove(name, fresh);
                    load.completeExceptionally(e);
                }
            });
        } catch (RejectedExecutionException e) {
            cache.remove(name, fresh);
            load.completeExceptionally(e);
        }
        return load;
    }

    /** Logs an unknown policy name once. */
    void logUnknown(String name) {
        if (logged.size() < MAX_CACHED && logged.add(name)) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "policy ''{0}'' is neither configured nor stored: its callers are refused (403 unknown_policy)",
                    name);
        }
    }

    @Override
    public void close() {
        if (thread != null) {
            thread.shutdown();
        }
    }
}
