package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.Window;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The counters a policy's quota rules make ({@code requests-per-minute} ... {@code cost-per-month}), each with its
 * window, and what settling a reservation adds to each.
 */
final class QuotaCounters {
    static final String REQUESTS_PER_MINUTE = "requests-per-minute";
    static final String REQUESTS_PER_HOUR = "requests-per-hour";
    static final String REQUESTS_PER_DAY = "requests-per-day";
    static final String TOKENS_PER_MINUTE = "tokens-per-minute";
    static final String TOKENS_PER_DAY = "tokens-per-day";
    static final String TOKENS_PER_MONTH = "tokens-per-month";
    static final String CONCURRENT_REQUESTS = "concurrent-requests";
    static final String COST_PER_DAY = "cost-per-day";
    static final String COST_PER_MONTH = "cost-per-month";

    private static final BigDecimal NANOS_PER_DOLLAR = BigDecimal.valueOf(1_000_000_000L);

    private QuotaCounters() {}

    /** One counter of a policy, what it counts and whether it is a budget (a calendar period). */
    record Spec(Counter counter, Kind kind, boolean budget) {}

    /** What a counter counts. */
    enum Kind {
        REQUESTS,
        TOKENS,
        COST,
        LEASE
    }

    /** Whether any of {@code policies} limits tokens or money, so that requests will be counted by a tokenizer. */
    static boolean countsTokens(Iterable<Policy> policies) {
        for (Policy p : policies) {
            for (Spec s : of(p.quotas(), Duration.ofMinutes(1))) {
                if (s.kind() == Kind.TOKENS || s.kind() == Kind.COST) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The policy's counters, in a fixed order. */
    static List<Spec> of(Policy.Quotas q, Duration leaseTimeout) {
        List<Spec> specs = new ArrayList<>(9);
        rolling(specs, REQUESTS_PER_MINUTE, q.requestsPerMinute(), Duration.ofMinutes(1), Kind.REQUESTS);
        rolling(specs, REQUESTS_PER_HOUR, q.requestsPerHour(), Duration.ofHours(1), Kind.REQUESTS);
        rolling(specs, REQUESTS_PER_DAY, q.requestsPerDay(), Duration.ofDays(1), Kind.REQUESTS);
        rolling(specs, TOKENS_PER_MINUTE, q.tokensPerMinute(), Duration.ofMinutes(1), Kind.TOKENS);
        rolling(specs, TOKENS_PER_DAY, q.tokensPerDay(), Duration.ofDays(1), Kind.TOKENS);
        if (q.tokensPerMonth() != null) {
            specs.add(new Spec(
                    new Counter(TOKENS_PER_MONTH, q.tokensPerMonth(), new Window.Calendar(Window.Period.MONTH)),
                    Kind.TOKENS,
                    true));
        }
        if (q.concurrentRequests() != null) {
            specs.add(new Spec(
                    new Counter(CONCURRENT_REQUESTS, q.concurrentRequests(), new Window.Lease(leaseTimeout)),
                    Kind.LEASE,
                    false));
        }
        if (q.costPerDay() != null) {
            specs.add(new Spec(
                    new Counter(COST_PER_DAY, nanoUsd(q.costPerDay()), new Window.Calendar(Window.Period.DAY)),
                    Kind.COST,
                    true));
        }
        if (q.costPerMonth() != null) {
            specs.add(new Spec(
                    new Counter(COST_PER_MONTH, nanoUsd(q.costPerMonth()), new Window.Calendar(Window.Period.MONTH)),
                    Kind.COST,
                    true));
        }
        return specs;
    }

    private static void rolling(List<Spec> specs, String name, Long limit, Duration length, Kind kind) {
        if (limit != null) {
            specs.add(new Spec(new Counter(name, limit, new Window.Rolling(length)), kind, false));
        }
    }

    /** Dollars in nano-dollars, saturated. */
    static long nanoUsd(BigDecimal dollars) {
        BigDecimal n = dollars.multiply(NANOS_PER_DOLLAR);
        return n.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) >= 0
                ? Long.MAX_VALUE
                : n.setScale(0, java.math.RoundingMode.DOWN).longValueExact();
    }

    /**
     * What settling a reservation adds to each counter: requests and leases stay as they are; tokens and money
     * move from the estimate to what was used (negative: a refund).
     */
    static long[] settlement(List<Spec> specs, long[] reserved, long usedTokens, long usedCost) {
        long[] deltas = new long[reserved.length];
        for (int i = 0; i < deltas.length; i++) {
            deltas[i] = switch (specs.get(i).kind()) {
                case TOKENS -> usedTokens - reserved[i];
                case COST -> usedCost - reserved[i];
                case REQUESTS, LEASE -> 0;
            };
        }
        return deltas;
    }
}
