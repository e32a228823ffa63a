package io.github.openaiproxy.core;

import io.github.openaiproxy.core.QuotaCounters.Kind;
import io.github.openaiproxy.core.QuotaCounters.Spec;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.limits.Admission;
import java.time.Instant;
import java.util.Map;

/** The answers of requests the limits refuse: 429s in OpenAI's shape, and the 400, 403 and 503 around them. */
final class LimitRefusals {
    private LimitRefusals() {}

    /**
     * A counter that did not fit: a budget is {@code insufficient_quota} with {@code x-should-retry: false} (an SDK
     * must not retry it in a loop); a rate limit is {@code rate_limit_exceeded} with {@code Retry-After}.
     *
     * @param headers the caller's {@code x-ratelimit-*} headers; this map is added to
     */
    static ProxyError over(
            Spec s, Admission.CounterState state, long requested, Map<String, String> headers, long now) {
        if (s.budget()) {
            headers.put("x-should-retry", "false");
            return new ProxyError(
                    429,
                    "Quota exceeded",
                    "This caller's " + s.counter().name() + " budget is used up until "
                            + Instant.ofEpochMilli(state.resetAtMillis()) + " (UTC)",
                    "insufficient_quota",
                    "insufficient_quota",
                    null,
                    null,
                    headers);
        }
        long wait = s.kind() == Kind.LEASE ? 1000 : Math.max(1000, state.resetAtMillis() - now);
        headers.put("Retry-After", Long.toString((wait + 999) / 1000));
        String type = s.kind() == Kind.TOKENS ? "tokens" : "requests";
        String message = s.kind() == Kind.LEASE
                ? "Too many requests in flight for this caller: the limit is "
                        + s.counter().limit()
                : "Rate limit reached for " + s.counter().name() + ": limit "
                        + s.counter().limit()
                        + ", used " + state.used() + ", requested " + requested
                        + ". Please try again in " + RateLimitHeaders.openAiDuration(wait) + ".";
        return new ProxyError(429, "Too Many Requests", message, type, "rate_limit_exceeded", null, null, headers);
    }

    static ProxyError neverFits(Spec s, long amount, String param) {
        return new ProxyError(
                400,
                "Request too large",
                "This request's estimate of " + amount + " tokens is over this caller's "
                        + s.counter().name()
                        + " limit of " + s.counter().limit() + ": it can never fit"
                        + (param == null ? "" : "; lower " + param),
                "invalid_request_error",
                "request_too_large",
                param,
                null,
                Map.of());
    }

    static ProxyError modelNotPriced() {
        return new ProxyError(
                403,
                "Forbidden",
                "This caller has a cost budget and the requested model has no price",
                "permission_error",
                "model_not_priced",
                "model",
                null,
                Map.of());
    }

    static ProxyError limitsUnavailable() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "This caller's limits could not be checked; retry shortly",
                "server_error",
                "limits_unavailable",
                null,
                null,
                Map.of("Retry-After", "1"));
    }
}
