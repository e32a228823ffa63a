package io.github.openaiproxy.spring.health;

import java.time.Duration;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.springframework.boot.health.contributor.Health;

/**
 * A health check's answer, reused for {@code health.cache-time-to-live}: frequent probes (a load balancer's, an
 * attacker's) do not call the upstream or the stores each time. Serialized: concurrent probes after it expired wait
 * for one check.
 */
final class CachedHealth {
    private final Supplier<Health> check;
    private final long cacheNanos;
    private final LongSupplier nanoClock;
    private Health cached;
    private long cachedAt;

    CachedHealth(Supplier<Health> check, Duration cacheTimeToLive, LongSupplier nanoClock) {
        this.check = check;
        this.cacheNanos = Math.max(0, cacheTimeToLive.toNanos());
        this.nanoClock = nanoClock;
    }

    synchronized Health get() {
        long now = nanoClock.getAsLong();
        if (cached == null || now - cachedAt >= cacheNanos) {
            cached = check.get();
            cachedAt = nanoClock.getAsLong();
        }
        return cached;
    }
}
