package io.github.openaiproxy.core.cors;

import io.github.openaiproxy.core.images.Images;
import io.github.openaiproxy.core.session.SessionHeaders;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Immutable CORS settings. The defaults allow no cross-origin access at all: a deployment names the
 * origins of its front ends.
 *
 * @param allowedOrigins exact origins such as {@code https://chat.example.com}, or {@code *} for any
 * @param allowedOriginPatterns patterns such as {@code http://localhost:*} or {@code https://*.example.com}
 * @param allowedHeaders request headers a browser may send; entries ending in {@code *} match by prefix
 * @param exposedHeaders response headers scripts may read
 * @param maxAge how long browsers may cache a preflight answer
 * @param allowCredentials whether browsers may send cookies and HTTP auth (never together with {@code *})
 */
public record CorsConfig(
        List<String> allowedOrigins,
        List<String> allowedOriginPatterns,
        List<String> allowedHeaders,
        List<String> exposedHeaders,
        Duration maxAge,
        boolean allowCredentials) {

    /** What browser front ends and the official SDKs send. */
    public static final List<String> DEFAULT_ALLOWED_HEADERS = List.of(
            "content-type",
            "authorization",
            "accept",
            "x-requested-with",
            "x-openai-key",
            "openai-organization",
            "openai-project",
            "openai-beta",
            "idempotency-key",
            "x-stainless-*");

    /**
     * Headers worth reading from a response: request id, rate limits, the SDKs' retry hints ({@code x-should-retry:
     * false} on a budget's 429 is what keeps the JavaScript SDK in a web page from retrying it), and the proxy's own
     * headers for the page (a session reply's recorded id and time, whether generated images were stored), which a
     * chat page on another origin could not read otherwise.
     */
    public static final List<String> DEFAULT_EXPOSED_HEADERS = List.of(
            "x-request-id",
            "openai-processing-ms",
            "openai-version",
            "x-ratelimit-limit-requests",
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-requests",
            "x-ratelimit-reset-tokens",
            "retry-after",
            "retry-after-ms",
            "x-should-retry",
            SessionHeaders.MESSAGE_ID.toLowerCase(Locale.ROOT),
            SessionHeaders.MESSAGE_TIMESTAMP.toLowerCase(Locale.ROOT),
            Images.STORED_HEADER);

    public static final Duration DEFAULT_MAX_AGE = Duration.ofSeconds(86400);

    public CorsConfig {
        allowedOrigins = List.copyOf(allowedOrigins);
        allowedOriginPatterns = List.copyOf(allowedOriginPatterns);
        allowedHeaders = List.copyOf(allowedHeaders);
        exposedHeaders = List.copyOf(exposedHeaders);
        Objects.requireNonNull(maxAge, "maxAge");
        if (maxAge.isNegative()) {
            throw new IllegalArgumentException("cors max-age must not be negative");
        }
        if (allowCredentials && (allowedOrigins.contains("*") || allowedOriginPatterns.contains("*"))) {
            throw new IllegalArgumentException(
                    "cors allowed-origins '*' cannot be combined with allow-credentials=true: name the origins");
        }
        for (String p : allowedOriginPatterns) {
            OriginPattern.compile(p); // fail fast on a malformed pattern
        }
    }

    /** No cross-origin access. */
    public static CorsConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these settings. */
    public Builder toBuilder() {
        return new Builder()
                .allowedOrigins(allowedOrigins)
                .allowedOriginPatterns(allowedOriginPatterns)
                .allowedHeaders(allowedHeaders)
                .exposedHeaders(exposedHeaders)
                .maxAge(maxAge)
                .allowCredentials(allowCredentials);
    }

    /** Builds a {@link CorsConfig}. */
    public static final class Builder {
        private List<String> allowedOrigins = new ArrayList<>();
        private List<String> allowedOriginPatterns = new ArrayList<>();
        private List<String> allowedHeaders = DEFAULT_ALLOWED_HEADERS;
        private List<String> exposedHeaders = DEFAULT_EXPOSED_HEADERS;
        private Duration maxAge = DEFAULT_MAX_AGE;
        private boolean allowCredentials;

        private Builder() {}

        public Builder allowedOrigins(List<String> origins) {
            this.allowedOrigins = clean(origins);
            return this;
        }

        public Builder allowedOriginPatterns(List<String> patterns) {
            this.allowedOriginPatterns = clean(patterns);
            return this;
        }

        /**
         * Sorts a mixed list into exact origins and patterns: entries with {@code *} (other than a lone
         * {@code *}) are patterns.
         */
        public Builder origins(List<String> originsOrPatterns) {
            List<String> exact = new ArrayList<>();
            List<String> patterns = new ArrayList<>();
            for (String o : clean(originsOrPatterns)) {
                (o.contains("*") && !o.equals("*") ? patterns : exact).add(o);
            }
            this.allowedOrigins = exact;
            this.allowedOriginPatterns = patterns;
            return this;
        }

        public Builder allowedHeaders(List<String> headers) {
            this.allowedHeaders = clean(headers);
            return this;
        }

        public Builder exposedHeaders(List<String> headers) {
            this.exposedHeaders = clean(headers);
            return this;
        }

        public Builder maxAge(Duration maxAge) {
            this.maxAge = maxAge;
            return this;
        }

        public Builder allowCredentials(boolean allowCredentials) {
            this.allowCredentials = allowCredentials;
            return this;
        }

        public CorsConfig build() {
            return new CorsConfig(
                    allowedOrigins, allowedOriginPatterns, allowedHeaders, exposedHeaders, maxAge, allowCredentials);
        }

        private static List<String> clean(List<String> values) {
            List<String> out = new ArrayList<>();
            for (String v : values) {
                if (v != null && !v.isBlank()) {
                    String s = v.strip();
                    out.add(s.endsWith("/") ? s.substring(0, s.length() - 1) : s);
                }
            }
            return out;
        }
    }
}
