package io.github.openaiproxy.core;

import io.github.openaiproxy.core.QuotaCounters.Kind;
import io.github.openaiproxy.core.QuotaCounters.Spec;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.limits.Admission;
import java.net.http.HttpHeaders;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** OpenAI's {@code x-ratelimit-*} headers, describing the proxy's limits for the caller. */
final class RateLimitHeaders {
    private RateLimitHeaders() {}

    /**
     * OpenAI's {@code x-ratelimit-*} headers for the tightest requests and tokens rate limits (the least
     * remaining, of the identity's and the owner's); none for a kind the policy does not limit.
     */
    static Map<String, String> of(List<Spec> specs, Admission a, Admission b, long now) {
        Map<String, String> h = new LinkedHashMap<>();
        tightest(h, "requests", Kind.REQUESTS, specs, a, b, now);
        tightest(h, "tokens", Kind.TOKENS, specs, a, b, now);
        return h;
    }

    private static void tightest(
            Map<String, String> h, String name, Kind kind, List<Spec> specs, Admission a, Admission b, long now) {
        long bestRemaining = Long.MAX_VALUE;
        long limit = -1;
        long reset = 0;
        for (Admission adm : new Admission[] {a, b}) {
            if (adm == null) {
                continue;
            }
            for (int i = 0; i < specs.size(); i++) {
                Spec s = specs.get(i);
                if (s.kind() != kind || s.budget()) {
                    continue;
                }
                Admission.CounterState st = adm.states().get(i);
                long remaining = Math.max(0, s.counter().limit() - st.used());
                if (remaining < bestRemaining) {
                    bestRemaining = remaining;
                    limit = s.counter().limit();
                    reset = Math.max(0, st.resetAtMillis() - now);
                }
            }
        }
        if (limit >= 0) {
            h.put("x-ratelimit-limit-" + name, Long.toString(limit));
            h.put("x-ratelimit-remaining-" + name, Long.toString(bestRemaining));
            h.put("x-ratelimit-reset-" + name, openAiDuration(reset));
        }
    }

    /** A duration as OpenAI writes it in {@code x-ratelimit-reset-*}: {@code 20ms}, {@code 1s}, {@code 6m0s}, {@code 1h2m3s}. */
    static String openAiDuration(long millis) {
        if (millis < 1000) {
            return Math.max(0, millis) + "ms";
        }
        long s = (millis + 999) / 1000;
        long h = s / 3600;
        long m = (s % 3600) / 60;
        long sec = s % 60;
        if (h > 0) {
            return h + "h" + m + "m" + sec + "s";
        }
        return m > 0 ? m + "m" + sec + "s" : sec + "s";
    }

    /** The answer with the caller's rate-limit headers instead of any the upstream sent. */
    static ProxyResponse replace(ProxyResponse r, Map<String, String> rate) {
        // A plain map: HttpHeaders.of sorts the names itself, and no two differ only in case (the upstream's are
        // distinct, its x-ratelimit-* ones are left out).
        Map<String, List<String>> map = new HashMap<>(r.headers().map().size() * 2 + 12);
        r.headers().map().forEach((k, v) -> {
            if (!k.regionMatches(true, 0, "x-ratelimit-", 0, 12)) {
                map.put(k, v);
            }
        });
        rate.forEach((k, v) -> map.put(k, List.of(v)));
        return new ProxyResponse(r.status(), HttpHeaders.of(map, (n, v) -> true), r.body(), r.streaming());
    }
}
