package io.github.openaiproxy.core.limits;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How the policies' quotas are counted: the store ({@code limits.store}), the estimates made before the call,
 * and what a request gets while the store is down. Immutable; {@link #DEFAULTS} is core's default.
 *
 * @param store where counters live ({@code limits.store})
 * @param redisUrl the Redis URI of {@code limits.store=redis} ({@code limits.redis-url}); {@code null} when none
 * @param defaultOutputTokens the output tokens reserved for a request that names no output cap and whose policy
 *     has no {@code max-tokens} ({@code limits.default-output-tokens})
 * @param leaseTimeout how long a concurrency lease is held at most: an instance that dies holding one frees it
 *     after this ({@code limits.lease-timeout})
 * @param rateLimitsWhenDown what a request gets when the store cannot count its rate limits
 *     ({@code limits.rate-limits-when-down})
 * @param budgetsWhenDown what a request gets when the store cannot count its budgets
 *     ({@code limits.budgets-when-down})
 * @param storeTimeout the longest wait for the store's answer; a later one counts as the store being down
 *     ({@code limits.store-timeout})
 */
public record LimitsConfig(
        Store store,
        String redisUrl,
        int defaultOutputTokens,
        Duration leaseTimeout,
        WhenDown rateLimitsWhenDown,
        WhenDown budgetsWhenDown,
        Duration storeTimeout) {
    /** The default of {@link #defaultOutputTokens}. */
    public static final int DEFAULT_OUTPUT_TOKENS = 4096;
    /** The default of {@link #leaseTimeout}. */
    public static final Duration DEFAULT_LEASE_TIMEOUT = Duration.ofMinutes(10);
    /** The default of {@link #storeTimeout}. */
    public static final Duration DEFAULT_STORE_TIMEOUT = Duration.ofSeconds(2);

    /** In memory; allow rate limits and refuse budgets while a shared store is down. */
    public static final LimitsConfig DEFAULTS = new LimitsConfig(
            Store.MEMORY,
            null,
            DEFAULT_OUTPUT_TOKENS,
            DEFAULT_LEASE_TIMEOUT,
            WhenDown.ALLOW,
            WhenDown.REFUSE,
            DEFAULT_STORE_TIMEOUT);

    public LimitsConfig {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(leaseTimeout, "leaseTimeout");
        Objects.requireNonNull(rateLimitsWhenDown, "rateLimitsWhenDown");
        Objects.requireNonNull(budgetsWhenDown, "budgetsWhenDown");
        Objects.requireNonNull(storeTimeout, "storeTimeout");
        if (defaultOutputTokens < 0) {
            throw new IllegalArgumentException("limits.default-output-tokens must not be negative");
        }
        if (leaseTimeout.isNegative() || leaseTimeout.isZero()) {
            throw new IllegalArgumentException("limits.lease-timeout must be positive");
        }
        if (storeTimeout.isNegative() || storeTimeout.isZero()) {
            throw new IllegalArgumentException("limits.store-timeout must be positive");
        }
        redisUrl = redisUrl == null || redisUrl.isBlank() ? null : redisUrl.strip();
    }

    /** Where the counters live. */
    public enum Store {
        /** In this process: exact for one instance. */
        MEMORY,
        /** In the application's database (the same as sessions and keys). */
        JDBC,
        /** In Redis ({@code limits.redis-url}, or Spring's connection factory). */
        REDIS;

        /** The store named {@code memory}, {@code jdbc} or {@code redis}. */
        public static Store parse(String name) {
            try {
                return valueOf(name.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("limits.store must be memory, jdbc or redis: " + name);
            }
        }
    }

    /** What a request gets when the store does not answer. */
    public enum WhenDown {
        /** Allowed; its charges are kept (a bounded backlog) and counted once the store answers again. */
        ALLOW,
        /** 503 {@code limits_unavailable}; nothing reaches the upstream. */
        REFUSE;

        /** {@code allow} or {@code refuse}. */
        public static WhenDown parse(String name) {
            return valueOf(name.strip().toUpperCase(Locale.ROOT));
        }
    }

    /** Never shows the Redis URL, which may carry a password. */
    @Override
    public String toString() {
        return "LimitsConfig[store=" + store + ", redisUrl=" + (redisUrl == null ? "none" : "(set)")
                + ", defaultOutputTokens=" + defaultOutputTokens + ", leaseTimeout=" + leaseTimeout
                + ", rateLimitsWhenDown=" + rateLimitsWhenDown + ", budgetsWhenDown=" + budgetsWhenDown
                + ", storeTimeout=" + storeTimeout + "]";
    }

    public LimitsConfig withStore(Store store) {
        return new LimitsConfig(
                store, redisUrl, defaultOutputTokens, leaseTimeout, rateLimitsWhenDown, budgetsWhenDown, storeTimeout);
    }

    public LimitsConfig withRedisUrl(String redisUrl) {
        return new LimitsConfig(
                store, redisUrl, defaultOutputTokens, leaseTimeout, rateLimitsWhenDown, budgetsWhenDown, storeTimeout);
    }

    public LimitsConfig withDefaultOutputTokens(int tokens) {
        return new LimitsConfig(
                store, redisUrl, tokens, leaseTimeout, rateLimitsWhenDown, budgetsWhenDown, storeTimeout);
    }

    public LimitsConfig withLeaseTimeout(Duration timeout) {
        return new LimitsConfig(
                store, redisUrl, defaultOutputTokens, timeout, rateLimitsWhenDown, budgetsWhenDown, storeTimeout);
    }

    public LimitsConfig withRateLimitsWhenDown(WhenDown whenDown) {
        return new LimitsConfig(
                store, redisUrl, defaultOutputTokens, leaseTimeout, whenDown, budgetsWhenDown, storeTimeout);
    }

    public LimitsConfig withBudgetsWhenDown(WhenDown whenDown) {
        return new LimitsConfig(
                store, redisUrl, defaultOutputTokens, leaseTimeout, rateLimitsWhenDown, whenDown, storeTimeout);
    }

    public LimitsConfig withStoreTimeout(Duration timeout) {
        return new LimitsConfig(
                store, redisUrl, defaultOutputTokens, leaseTimeout, rateLimitsWhenDown, budgetsWhenDown, timeout);
    }
}
