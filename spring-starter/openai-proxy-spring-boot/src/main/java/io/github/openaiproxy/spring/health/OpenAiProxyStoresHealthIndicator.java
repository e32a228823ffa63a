package io.github.openaiproxy.spring.health;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.StoreProbe;
import io.github.openaiproxy.core.images.ImageStoreException;
import io.github.openaiproxy.core.limits.LimitStoreException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The health of the stores the proxy reaches over the network on its own clients, which no Spring Boot indicator
 * covers: the Redis limit store ({@code limits.store=redis}, a {@code PING}) and the S3 image store ({@code
 * images.store=s3}, a {@code HEAD} of the bucket). The database stores use the application's {@code DataSource},
 * which Boot's {@code db} indicator reports.
 *
 * <ul>
 *   <li>UP: every store answered within {@code health.timeout} (one deadline for all);
 *   <li>DOWN: one did not (its error in its details);
 *   <li>UNKNOWN: no such store is in use.
 * </ul>
 *
 * The details name each store's kind, status, error and latency, never a URL, password or key: the errors are
 * the proxy's own words (a status, "not connected", a timeout, an exception's class name). The answer is reused
 * for {@code health.cache-time-to-live}, so frequent probes do not call the stores each time.
 */
public final class OpenAiProxyStoresHealthIndicator implements HealthIndicator {
    private final ProxyEngine engine;
    private final Duration timeout;
    private final CachedHealth cached;

    /**
     * @param cacheTimeToLive how long a check is reused
     * @param timeout the longest wait for all the stores
     */
    public OpenAiProxyStoresHealthIndicator(ProxyEngine engine, Duration cacheTimeToLive, Duration timeout) {
        this(engine, cacheTimeToLive, timeout, System::nanoTime);
    }

    OpenAiProxyStoresHealthIndicator(
            ProxyEngine engine, Duration cacheTimeToLive, Duration timeout, LongSupplier nanoClock) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        this.cached = new CachedHealth(this::check, cacheTimeToLive, nanoClock);
    }

    /** Serialized: concurrent probes after the cache expired wait for one check. */
    @Override
    public Health health() {
        return cached.get();
    }

    private Health check() {
        List<StoreProbe> probes = engine.probeStores();
        if (probes.isEmpty()) {
            return Health.unknown()
                    .withDetail("check", "skipped: no Redis limit store or S3 image store in use")
                    .build();
        }
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        boolean up = true;
        Map<String, Object> stores = new LinkedHashMap<>();
        for (StoreProbe probe : probes) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("kind", probe.kind());
            String error = await(probe, deadline);
            one.put("status", error == null ? "UP" : "DOWN");
            if (error != null) {
                one.put("error", error);
                up = false;
            }
            one.put("latency", Duration.ofNanos(System.nanoTime() - start).toMillis() + "ms");
            stores.put(probe.store(), one);
        }
        return (up ? Health.up() : Health.down()).withDetails(stores).build();
    }

    /** {@code null} when the store answered by {@code deadline}, else what went wrong, safe to show. */
    private String await(StoreProbe probe, long deadline) {
        try {
            probe.answer().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return null;
        } catch (TimeoutException e) {
            probe.answer().cancel(true);
            return "no answer within " + timeout.toMillis() + "ms";
        } catch (InterruptedException e) {
            probe.answer().cancel(true);
            Thread.currentThread().interrupt();
            return "interrupted";
        } catch (ExecutionException | RuntimeException e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            // The stores' own exceptions carry the proxy's words; any other's message may quote a URL: its class.
            return cause instanceof LimitStoreException || cause instanceof ImageStoreException
                    ? cause.getMessage()
                    : "check failed: " + cause.getClass().getSimpleName();
        }
    }
}
