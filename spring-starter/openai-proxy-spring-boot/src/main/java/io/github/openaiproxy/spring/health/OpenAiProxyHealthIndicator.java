package io.github.openaiproxy.spring.health;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.upstream.UpstreamState;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The proxy's health: whether a key is configured and whether the upstream answers {@code GET /v1/models}
 * with the server key (free, no tokens). The call goes straight to the upstream with the engine's client, key and
 * timeouts ({@link ProxyEngine#probeUpstream}), outside the request pipeline: who the proxy lets in (anonymous
 * callers denied, a policy's routes) says nothing of the upstream's health. The answer is reused for a while, so
 * frequent health probes do not call the upstream each time.
 *
 * <ul>
 *   <li>UP: the upstream accepted the key (2xx), or is rate limiting it (429);
 *   <li>DOWN: no key at all, the key refused (401, 403), the upstream failing, unreachable or slow;
 *   <li>UNKNOWN: only client keys are allowed, so there is nothing to check with.
 * </ul>
 *
 * The details name the upstream and the key mode, never the key, and no upstream body is included. With named
 * upstreams, {@code upstreams} gives each one's key count, the keys a 401 took out and its circuit
 * ({@code closed}, {@code open} or {@code off}), read fresh on every probe (no call is made for them).
 */
public final class OpenAiProxyHealthIndicator implements HealthIndicator {
    private final ProxyEngine engine;
    private final Duration timeout;
    private final CachedHealth cached;

    /**
     * @param cacheTimeToLive how long a check is reused
     * @param timeout the longest wait for the upstream
     */
    public OpenAiProxyHealthIndicator(ProxyEngine engine, Duration cacheTimeToLive, Duration timeout) {
        this(engine, cacheTimeToLive, timeout, System::nanoTime);
    }

    OpenAiProxyHealthIndicator(ProxyEngine engine, Duration cacheTimeToLive, Duration timeout, LongSupplier nanoClock) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.timeout = timeout;
        this.cached = new CachedHealth(this::check, cacheTimeToLive, nanoClock);
    }

    /** Serialized: concurrent probes after the cache expired wait for one upstream call. */
    @Override
    public Health health() {
        Health cached = this.cached.get();
        List<UpstreamState> states = engine.upstreamStates();
        if (states.isEmpty()) {
            return cached;
        }
        Map<String, Object> upstreams = new LinkedHashMap<>();
        for (UpstreamState u : states) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("keys", u.keys());
            one.put("keysRemoved", u.keysRemoved());
            one.put("circuit", u.circuit().toString());
            upstreams.put(u.name(), one);
        }
        return Health.status(cached.getStatus())
                .withDetails(cached.getDetails())
                .withDetail("upstreams", upstreams)
                .build();
    }

    private Health check() {
        ProxyConfig config = engine.config();
        boolean serverKey = config.keys().serverKey().isPresent();
        boolean clientKeys = config.keys().allowClientKey();
        String keys = serverKey
                ? (clientKeys ? "server key, client keys allowed" : "server key")
                : (clientKeys ? "client keys only" : "none");
        Health.Builder health = new Health.Builder()
                .withDetail("upstream", config.upstream().baseUrl().toString())
                .withDetail("keys", keys);
        if (!serverKey && config.upstreams().anyKeys()) {
            // The named upstreams spend keys of their own: their state is below; no default upstream to probe.
            return health.unknown()
                    .withDetail("check", "skipped: no server key; the named upstreams' keys are used")
                    .build();
        }
        if (!serverKey) {
            return clientKeys
                    ? health.unknown()
                            .withDetail("check", "skipped: no server key to call the upstream with")
                            .build()
                    : health.down()
                            .withDetail("error", "no API key configured: calls answer 500")
                            .build();
        }
        long start = System.nanoTime();
        // Straight to the upstream with the server key: what the proxy lets anonymous callers do (access.anonymous
        // =deny, a policy's routes) is no measure of the upstream's health.
        CompletableFuture<Integer> call = new CompletableFuture<>();
        try {
            call = engine.probeUpstream();
            int status = call.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            health.withDetail("status", status)
                    .withDetail(
                            "latency",
                            Duration.ofNanos(System.nanoTime() - start).toMillis() + "ms");
            if ((status >= 200 && status < 300) || status == 429) {
                return health.up().build();
            }
            return health.down().withDetail("error", describe(status)).build();
        } catch (TimeoutException e) {
            call.cancel(true);
            return health.down()
                    .withDetail("error", "no answer within " + timeout.toMillis() + "ms")
                    .build();
        } catch (InterruptedException e) {
            call.cancel(true);
            Thread.currentThread().interrupt();
            return health.down().withDetail("error", "interrupted").build();
        } catch (ExecutionException | RuntimeException e) {
            call.cancel(true);
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            String error = cause instanceof io.github.openaiproxy.core.upstream.UpstreamFailure f
                    ? (f.kind() == io.github.openaiproxy.core.upstream.UpstreamFailure.Kind.TIMEOUT
                            ? describe(504)
                            : describe(502))
                    : "check failed: " + cause.getClass().getSimpleName();
            return health.down().withDetail("error", error).build();
        }
    }

    private static String describe(int status) {
        return switch (status) {
            case 401, 403 -> "the upstream refused the server key (" + status + ")";
            case 502 -> "the upstream is unreachable (502)";
            case 504 -> "the upstream did not answer in time (504)";
            default -> "the upstream answered " + status;
        };
    }
}
