package io.github.openaiproxy.core.cors;

import io.github.openaiproxy.core.internal.Internal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Decides what a browser may do cross-origin, from an immutable {@link CorsConfig}. It produces header
 * values; it never touches a transport.
 */
@Internal
public final class CorsPolicy {
    /** The longest {@code Access-Control-Allow-Headers} a preflight answer echoes, in characters. */
    static final int MAX_ALLOWED_HEADERS_ECHO = 2048;

    private final CorsConfig config;
    private final boolean anyOrigin;
    private final Set<String> exactOrigins;
    private final List<OriginPattern> patterns;
    private final List<String> headerPrefixes;
    private final Set<String> exactHeaders;
    private final boolean anyHeader;
    private final String exposedHeaders;

    public CorsPolicy(CorsConfig config) {
        this.config = config;
        this.anyOrigin = config.allowedOrigins().contains("*")
                || config.allowedOriginPatterns().contains("*");
        this.exactOrigins = lowerSet(config.allowedOrigins());
        this.patterns = config.allowedOriginPatterns().stream()
                .map(OriginPattern::compile)
                .toList();
        List<String> prefixes = new ArrayList<>();
        java.util.Set<String> exact = new java.util.HashSet<>();
        boolean any = false;
        for (String h : config.allowedHeaders()) {
            String l = h.toLowerCase(Locale.ROOT);
            if (l.equals("*")) {
                any = true;
            } else if (l.endsWith("*")) {
                prefixes.add(l.substring(0, l.length() - 1));
            } else {
                exact.add(l);
            }
        }
        this.headerPrefixes = List.copyOf(prefixes);
        this.exactHeaders = Set.copyOf(exact);
        this.anyHeader = any;
        this.exposedHeaders = String.join(", ", config.exposedHeaders());
    }

    public CorsConfig config() {
        return config;
    }

    /** The verdict on a request's {@code Origin}. */
    public enum Verdict {
        /** No {@code Origin}, or the same origin as the request: CORS does not apply. */
        NOT_CORS,
        /** A cross-origin request from an allowed origin. */
        ALLOWED,
        /** A cross-origin request from an origin that is not allowed. */
        DENIED
    }

    /**
     * Judges an {@code Origin} header.
     *
     * @param origin the request's {@code Origin} header, if any
     * @param requestOrigin the origin the request was addressed to, if the adapter knows it
     */
    public Verdict judge(Optional<String> origin, Optional<String> requestOrigin) {
        if (origin.isEmpty() || origin.get().isBlank()) {
            return Verdict.NOT_CORS;
        }
        String o = origin.get().strip();
        if (requestOrigin.isPresent() && o.equalsIgnoreCase(requestOrigin.get())) {
            return Verdict.NOT_CORS;
        }
        return isAllowedOrigin(o) ? Verdict.ALLOWED : Verdict.DENIED;
    }

    /** Whether an origin is allowed by the configured origins and patterns. */
    public boolean isAllowedOrigin(String origin) {
        if (anyOrigin) {
            return true;
        }
        String o = origin.toLowerCase(Locale.ROOT);
        if (exactOrigins.contains(o)) {
            return true;
        }
        for (OriginPattern p : patterns) {
            if (p.matches(o)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Headers for a response to an allowed cross-origin request (errors and streams included).
     *
     * @param origin the allowed origin
     */
    public Map<String, String> responseHeaders(String origin) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("Access-Control-Allow-Origin", anyOrigin && !config.allowCredentials() ? "*" : origin);
        if (config.allowCredentials()) {
            h.put("Access-Control-Allow-Credentials", "true");
        }
        if (!exposedHeaders.isEmpty()) {
            h.put("Access-Control-Expose-Headers", exposedHeaders);
        }
        return h;
    }

    /** The outcome of a preflight. */
    public sealed interface Preflight {
        /** Answer 204 with these headers. */
        record Accepted(Map<String, String> headers) implements Preflight {}

        /** Answer 403; {@code reason} says why (no CORS headers are sent). */
        record Rejected(String reason) implements Preflight {}
    }

    /**
     * Answers a preflight for a route.
     *
     * @param origin the {@code Origin} header
     * @param requestedMethod {@code Access-Control-Request-Method}
     * @param requestedHeaders {@code Access-Control-Request-Headers}, comma separated, may be empty
     * @param routeMethods the methods the route accepts
     */
    public Preflight preflight(
            String origin, String requestedMethod, String requestedHeaders, Set<String> routeMethods) {
        if (!isAllowedOrigin(origin)) {
            return new Preflight.Rejected("origin not allowed");
        }
        String method = requestedMethod.strip().toUpperCase(Locale.ROOT);
        if (!routeMethods.contains(method)) {
            return new Preflight.Rejected("method " + method + " not allowed");
        }
        // Each name once, in the order asked: the answer echoes them (a prefix such as x-stainless-* allows names
        // that cannot be listed ahead).
        Set<String> asked = new LinkedHashSet<>();
        int echoed = 0;
        for (String raw : requestedHeaders.split(",")) {
            String name = raw.strip().toLowerCase(Locale.ROOT);
            if (name.isEmpty()) {
                continue;
            }
            if (!isAllowedHeader(name)) {
                return new Preflight.Rejected("header " + name + " not allowed");
            }
            if (asked.add(name)) {
                echoed += name.length() + 2;
            }
        }
        if (echoed > MAX_ALLOWED_HEADERS_ECHO) {
            // Far more than any client sends; echoed, it could overflow the container's response head, which
            // then answers nothing at all (the standalone server keeps heads to 4 KB).
            return new Preflight.Rejected("too many request headers asked for");
        }
        Map<String, String> h = new LinkedHashMap<>(responseHeaders(origin));
        h.remove("Access-Control-Expose-Headers");
        List<String> methods = new ArrayList<>(new java.util.TreeSet<>(routeMethods));
        h.put("Access-Control-Allow-Methods", String.join(", ", methods));
        if (!asked.isEmpty()) {
            h.put("Access-Control-Allow-Headers", String.join(", ", asked));
        }
        h.put("Access-Control-Max-Age", Long.toString(config.maxAge().toSeconds()));
        return new Preflight.Accepted(h);
    }

    /** The value of {@code Vary} every response carries, so caches keep per-origin answers apart. */
    public static String vary() {
        return "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
    }

    private boolean isAllowedHeader(String lower) {
        if (anyHeader || exactHeaders.contains(lower)) {
            return true;
        }
        for (String p : headerPrefixes) {
            if (lower.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    private static Set<String> lowerSet(List<String> values) {
        java.util.Set<String> s = new java.util.HashSet<>();
        for (String v : values) {
            s.add(v.toLowerCase(Locale.ROOT));
        }
        return Set.copyOf(s);
    }
}
