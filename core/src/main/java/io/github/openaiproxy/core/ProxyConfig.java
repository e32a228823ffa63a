package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.http.AllowedHosts;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.keys.KeyPolicy;
import io.github.openaiproxy.core.normalize.ChatDefaults;
import io.github.openaiproxy.core.normalize.ImageDefaults;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.PricesConfig;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the proxy needs to know, immutable. Start from {@link #builder()}; every setting has a
 * documented default, so {@code ProxyConfig.builder().apiKey(key).build()} is a working proxy for
 * OpenAI that allows no cross-origin access.
 */
public final class ProxyConfig {
    /** Default request body limit: 10 MiB, since chat bodies can carry base64 images. */
    public static final long DEFAULT_MAX_BODY_SIZE = 10L * 1024 * 1024;
    /** Default limit of a streamed upload: 512 MiB, OpenAI's largest file ({@code /v1/files}). */
    public static final long DEFAULT_MAX_UPLOAD_SIZE = 512L * 1024 * 1024;

    /** The default {@code max-upload-spool-size}: 256 MiB spooled at once by every upload together. */
    public static final long DEFAULT_MAX_UPLOAD_SPOOL_SIZE = 256L * 1024 * 1024;
    /** Default limit for a single upstream Server-Sent Event: 16 MiB. */
    public static final int DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024;
    /**
     * Default time for a whole request body, beyond what {@link #DEFAULT_REQUEST_BODY_MIN_RATE} adds: 30 minutes, in
     * which a body of the default 10 MiB limit arrives over a link of 47 kbit/s, slower than a weak mobile one; it only
     * ends what trickles.
     */
    public static final Duration DEFAULT_REQUEST_BODY_TIMEOUT = Duration.ofMinutes(30);
    /**
     * Default rate that extends a body's deadline: 8 KiB a second (64 kbit/s). A 512 MiB upload sent at least that
     * fast is never cut, whatever {@code request-body-timeout}; a trickle of a byte a second gains nothing.
     */
    public static final long DEFAULT_REQUEST_BODY_MIN_RATE = 8 * 1024;
    /** Default cap on upstream calls in flight at once (streams included); 0 means no cap. */
    public static final int DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS = 1000;
    /** Default cap on upstream calls in flight at once for one client address; 0 means no cap. */
    public static final int DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT = 64;
    /** Default mount path. */
    public static final String DEFAULT_PATH = "/";

    private final String path;
    private final UpstreamConfig upstream;
    private final KeyPolicy keys;
    private final CorsConfig cors;
    private final AllowedHosts allowedHosts;
    private final ChatDefaults chatDefaults;
    private final ImageDefaults imageDefaults;
    private final long maxBodySize;
    private final long maxUploadSize;
    private final long maxUploadSpoolSize;
    private final Optional<java.nio.file.Path> uploadSpoolDir;
    private final int maxEventSize;
    private final Duration requestBodyTimeout;
    private final long requestBodyMinRate;
    private final List<PassThroughRoute> passThroughRoutes;
    private final SessionConfig sessions;
    private final int maxConcurrentUpstreamCalls;
    private final int maxConcurrentUpstreamCallsPerClient;
    private final AccessConfig access;
    private final ImageConfig images;
    /** The usage ledger (ledger.*). */
    private final io.github.openaiproxy.core.usage.ledger.LedgerConfig ledger;

    private final io.github.openaiproxy.core.upstream.Upstreams upstreams;
    private final PricesConfig prices;
    /** The policies' quotas: the store, the estimates, the store-down rules. */
    private final io.github.openaiproxy.core.limits.LimitsConfig limits;
    /** Whether observers continue a client's trace (tracing.client-context). */
    private final io.github.openaiproxy.core.observe.ClientTraceContext clientTraceContext;

    private ProxyConfig(Builder b) {
        this.path = normalizePath(b.path);
        this.upstream = Objects.requireNonNull(b.upstream, "upstream");
        this.keys = new KeyPolicy(b.apiKey, b.allowClientKey);
        this.cors = Objects.requireNonNull(b.cors, "cors");
        this.allowedHosts = Objects.requireNonNull(b.allowedHosts, "allowedHosts");
        this.chatDefaults = Objects.requireNonNull(b.chatDefaults, "chatDefaults");
        this.imageDefaults = Objects.requireNonNull(b.imageDefaults, "imageDefaults");
        if (b.maxBodySize < 1) {
            throw new IllegalArgumentException("max-body-size must be positive");
        }
        if (b.maxUploadSize < 1) {
            throw new IllegalArgumentException("max-upload-size must be positive");
        }
        if (b.maxUploadSpoolSize < 0) {
            throw new IllegalArgumentException("max-upload-spool-size must not be negative");
        }
        if (b.maxEventSize < 1) {
            throw new IllegalArgumentException("max-event-size must be positive");
        }
        if (b.requestBodyTimeout.isNegative() || b.requestBodyTimeout.isZero()) {
            throw new IllegalArgumentException("request-body-timeout must be positive");
        }
        this.maxBodySize = b.maxBodySize;
        this.maxUploadSize = b.maxUploadSize;
        this.maxUploadSpoolSize = b.maxUploadSpoolSize;
        this.uploadSpoolDir = Objects.requireNonNull(b.uploadSpoolDir, "uploadSpoolDir");
        this.maxEventSize = b.maxEventSize;
        this.requestBodyTimeout = b.requestBodyTimeout;
        if (b.requestBodyMinRate < 0) {
            throw new IllegalArgumentException("request-body-min-rate must not be negative");
        }
        this.requestBodyMinRate = b.requestBodyMinRate;
        this.passThroughRoutes = List.copyOf(b.passThroughRoutes);
        this.sessions = Objects.requireNonNull(b.sessions, "sessions");
        if (b.maxConcurrentUpstreamCalls < 0) {
            throw new IllegalArgumentException("limits.max-concurrent-upstream-calls must be 0 (no cap) or positive");
        }
        if (b.maxConcurrentUpstreamCallsPerClient < 0) {
            throw new IllegalArgumentException(
                    "limits.max-concurrent-upstream-calls-per-client must be 0 (no cap) or positive");
        }
        this.maxConcurrentUpstreamCalls = b.maxConcurrentUpstreamCalls;
        this.maxConcurrentUpstreamCallsPerClient = b.maxConcurrentUpstreamCallsPerClient;
        this.upstreams = Objects.requireNonNull(b.upstreams, "upstreams");
        this.access = Objects.requireNonNull(b.access, "access");
        this.images = Objects.requireNonNull(b.images, "images");
        this.prices = Objects.requireNonNull(b.prices, "prices");
        this.ledger = Objects.requireNonNull(b.ledger, "ledger");
        this.limits = Objects.requireNonNull(b.limits, "limits");
        this.clientTraceContext = Objects.requireNonNull(b.clientTraceContext, "clientTraceContext");
    }

    /** A builder with every default. */
    public static Builder builder() {
        return new Builder();
    }

    /** All defaults (no key: every upstream call is answered with a configuration error). */
    public static ProxyConfig defaults() {
        return builder().build();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.path = path;
        b.upstream = upstream;
        b.apiKey = keys.serverKey();
        b.allowClientKey = keys.allowClientKey();
        b.cors = cors;
        b.allowedHosts = allowedHosts;
        b.chatDefaults = chatDefaults;
        b.imageDefaults = imageDefaults;
        b.maxBodySize = maxBodySize;
        b.maxUploadSize = maxUploadSize;
        b.maxUploadSpoolSize = maxUploadSpoolSize;
        b.uploadSpoolDir = uploadSpoolDir;
        b.maxEventSize = maxEventSize;
        b.requestBodyTimeout = requestBodyTimeout;
        b.requestBodyMinRate = requestBodyMinRate;
        b.passThroughRoutes = passThroughRoutes;
        b.sessions = sessions;
        b.maxConcurrentUpstreamCalls = maxConcurrentUpstreamCalls;
        b.maxConcurrentUpstreamCallsPerClient = maxConcurrentUpstreamCallsPerClient;
        b.access = access;
        b.images = images;
        b.ledger = ledger;
        b.upstreams = upstreams;
        b.prices = prices;
        b.limits = limits;
        b.clientTraceContext = clientTraceContext;
        return b;
    }

    /** Price overrides and the default price ({@code limits.prices}, ...); see {@code PriceTable.from}. */
    public PricesConfig prices() {
        return prices;
    }

    /** How the policies' quotas are counted: the store, the estimates, what happens while it is down. */
    public io.github.openaiproxy.core.limits.LimitsConfig limits() {
        return limits;
    }

    /** Who may call: identities, policies and the admin API. */
    public AccessConfig access() {
        return access;
    }

    /** Where the proxy is mounted inside its web application, for example {@code /} or {@code /ai}. */
    public String path() {
        return path;
    }

    public UpstreamConfig upstream() {
        return upstream;
    }

    public KeyPolicy keys() {
        return keys;
    }

    public CorsConfig cors() {
        return cors;
    }

    /** The host names the proxy answers to; {@link AllowedHosts#ANY} by default. */
    public AllowedHosts allowedHosts() {
        return allowedHosts;
    }

    public ChatDefaults chatDefaults() {
        return chatDefaults;
    }

    public ImageDefaults imageDefaults() {
        return imageDefaults;
    }

    /**
     * The largest request body accepted, in bytes: every body the proxy reads or parses (JSON, the simple and
     * module routes), and every body of a pass-through route that is not an {@linkplain #maxUploadSize() upload}.
     */
    public long maxBodySize() {
        return maxBodySize;
    }

    /**
     * The largest upload, in bytes: a body the proxy only streams to the upstream, never reads (a {@code
     * multipart/form-data} or other non-JSON body on a pass-through route that does not take JSON, such as {@code
     * POST /v1/files}), counted as it passes. Never below {@link #maxBodySize()}: the larger of the two applies.
     */
    public long maxUploadSize() {
        return Math.max(maxUploadSize, maxBodySize);
    }

    /**
     * The most bytes all uploads together may have spooled at once, in bytes. With named upstreams routing by model,
     * a multipart upload whose file comes before its {@code model} field is read on to the model, past its first 64
     * KiB to a temporary file, so that it goes where its model says; past this bound an upload is routed as if it named
     * no model (to the default upstream). 0: nothing is spooled.
     */
    public long maxUploadSpoolSize() {
        return maxUploadSpoolSize;
    }

    /** The directory uploads are spooled in (see {@link #maxUploadSpoolSize()}); empty: {@code java.io.tmpdir}. */
    public Optional<java.nio.file.Path> uploadSpoolDir() {
        return uploadSpoolDir;
    }

    /** The largest single upstream event relayed, in bytes. */
    public int maxEventSize() {
        return maxEventSize;
    }

    /**
     * How long a request's whole body may take to arrive, from when the request came in; after it: 408. The
     * container's read timeout bounds each read only, so without it a client trickling its body holds the request
     * (and a streamed body's upstream call) for as long as it likes.
     */
    public Duration requestBodyTimeout() {
        return requestBodyTimeout;
    }

    /**
     * Bytes a second that extend a body's {@link #requestBodyTimeout}: each this many bytes received add a second, so
     * a large upload sent at an honest rate is never cut, while a trickle gains next to nothing (as Apache's {@code
     * mod_reqtimeout MinRate}). 0: the timeout alone.
     */
    public long requestBodyMinRate() {
        return requestBodyMinRate;
    }

    /**
     * Whether the observers get a request's headers to continue the client's trace ({@code CONTINUE}), or start
     * traces of their own, sampled by the proxy alone ({@code IGNORE}, the default).
     */
    public io.github.openaiproxy.core.observe.ClientTraceContext clientTraceContext() {
        return clientTraceContext;
    }

    /** The OpenAI-compatible routes relayed unchanged. */
    public List<PassThroughRoute> passThroughRoutes() {
        return passThroughRoutes;
    }

    /** How chat sessions are used (routes on, history as context off, by default). */
    public SessionConfig sessions() {
        return sessions;
    }

    /** How generated images are stored and served (not stored, by default). */
    public ImageConfig images() {
        return images;
    }

    /** Where the usage ledger is kept, and for how long (not kept, by default). */
    public io.github.openaiproxy.core.usage.ledger.LedgerConfig ledger() {
        return ledger;
    }

    /**
     * The most upstream calls in flight at once, a stream counting until its last event; over it a request is
     * answered 503 at once. 0: no cap.
     */
    public int maxConcurrentUpstreamCalls() {
        return maxConcurrentUpstreamCalls;
    }

    /**
     * The most upstream calls in flight at once for one client address (the connection's peer, see
     * {@link io.github.openaiproxy.core.http.ProxyRequest#remoteAddress()}); over it a request is answered 429
     * at once. 0: no cap.
     */
    public int maxConcurrentUpstreamCallsPerClient() {
        return maxConcurrentUpstreamCallsPerClient;
    }

    /**
     * The named upstreams ({@code upstreams.<name>.*}); {@link io.github.openaiproxy.core.upstream.Upstreams#NONE}
     * by default, when every request goes to {@link #upstream()}.
     */
    public io.github.openaiproxy.core.upstream.Upstreams upstreams() {
        return upstreams;
    }

    @Override
    public String toString() {
        return "ProxyConfig[path=" + path + ", upstream=" + upstream.baseUrl() + ", keys=" + keys + ", origins="
                + cors.allowedOrigins() + cors.allowedOriginPatterns() + ", hosts=" + allowedHosts + "]";
    }

    private static String normalizePath(String p) {
        if (p == null || p.isBlank() || p.strip().equals("/")) {
            return "/";
        }
        String s = p.strip();
        if (!s.startsWith("/")) {
            s = "/" + s;
        }
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        if (s.contains("*") || s.contains("?") || s.contains("..")) {
            throw new IllegalArgumentException("path must be a plain path such as /ai: " + p);
        }
        return s;
    }

    /** Builds a {@link ProxyConfig}. */
    public static final class Builder {
        private String path = DEFAULT_PATH;
        private UpstreamConfig upstream = UpstreamConfig.defaults();
        private Optional<ApiKey> apiKey = Optional.empty();
        private boolean allowClientKey;
        private CorsConfig cors = CorsConfig.defaults();
        private AllowedHosts allowedHosts = AllowedHosts.ANY;
        private ChatDefaults chatDefaults = ChatDefaults.DEFAULTS;
        private ImageDefaults imageDefaults = ImageDefaults.DEFAULTS;
        private long maxBodySize = DEFAULT_MAX_BODY_SIZE;
        private long maxUploadSize = DEFAULT_MAX_UPLOAD_SIZE;
        private long maxUploadSpoolSize = DEFAULT_MAX_UPLOAD_SPOOL_SIZE;
        private Optional<java.nio.file.Path> uploadSpoolDir = Optional.empty();
        private int maxEventSize = DEFAULT_MAX_EVENT_SIZE;
        private Duration requestBodyTimeout = DEFAULT_REQUEST_BODY_TIMEOUT;
        private long requestBodyMinRate = DEFAULT_REQUEST_BODY_MIN_RATE;
        private List<PassThroughRoute> passThroughRoutes = PassThroughRoute.DEFAULTS;
        private SessionConfig sessions = SessionConfig.DEFAULTS;
        private int maxConcurrentUpstreamCalls = DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS;
        private int maxConcurrentUpstreamCallsPerClient = DEFAULT_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT;
        private AccessConfig access = AccessConfig.DEFAULTS;
        private ImageConfig images = ImageConfig.DEFAULTS;
        private io.github.openaiproxy.core.usage.ledger.LedgerConfig ledger =
                io.github.openaiproxy.core.usage.ledger.LedgerConfig.DEFAULTS;
        private io.github.openaiproxy.core.upstream.Upstreams upstreams =
                io.github.openaiproxy.core.upstream.Upstreams.NONE;
        private PricesConfig prices = PricesConfig.DEFAULTS;

        private io.github.openaiproxy.core.limits.LimitsConfig limits =
                io.github.openaiproxy.core.limits.LimitsConfig.DEFAULTS;
        private io.github.openaiproxy.core.observe.ClientTraceContext clientTraceContext =
                io.github.openaiproxy.core.observe.ClientTraceContext.IGNORE;

        private Builder() {}

        /** What the observers make of a client's trace context (see {@link ProxyConfig#clientTraceContext}). */
        public Builder clientTraceContext(io.github.openaiproxy.core.observe.ClientTraceContext clientTraceContext) {
            this.clientTraceContext = Objects.requireNonNull(clientTraceContext, "clientTraceContext");
            return this;
        }

        /** How the policies' quotas are counted (in memory by default). */
        public Builder limits(io.github.openaiproxy.core.limits.LimitsConfig limits) {
            this.limits = limits;
            return this;
        }

        /** Mount path inside the web application (used by the filter); default {@code /}. */
        public Builder path(String path) {
            this.path = path;
            return this;
        }

        public Builder upstream(UpstreamConfig upstream) {
            this.upstream = upstream;
            return this;
        }

        /** The server's key; blank or {@code null} means none. */
        public Builder apiKey(String apiKey) {
            this.apiKey = ApiKey.of(apiKey);
            return this;
        }

        /** Whether clients may send their own key in {@code x-openai-key}; default {@code false}. */
        public Builder allowClientKey(boolean allowClientKey) {
            this.allowClientKey = allowClientKey;
            return this;
        }

        public Builder cors(CorsConfig cors) {
            this.cors = cors;
            return this;
        }

        /**
         * The host names the proxy answers to (see {@link AllowedHosts}): a request addressed to any other
         * host is refused with 403. Empty, the default: any host.
         */
        public Builder allowedHosts(List<String> hosts) {
            this.allowedHosts = AllowedHosts.of(hosts);
            return this;
        }

        public Builder chatDefaults(ChatDefaults chatDefaults) {
            this.chatDefaults = chatDefaults;
            return this;
        }

        public Builder imageDefaults(ImageDefaults imageDefaults) {
            this.imageDefaults = imageDefaults;
            return this;
        }

        public Builder maxBodySize(long maxBodySize) {
            this.maxBodySize = maxBodySize;
            return this;
        }

        /** The largest streamed upload (see {@link ProxyConfig#maxUploadSize()}); default 512 MiB. */
        public Builder maxUploadSize(long maxUploadSize) {
            this.maxUploadSize = maxUploadSize;
            return this;
        }

        /** The most bytes spooled at once by all uploads (see {@link ProxyConfig#maxUploadSpoolSize()}); 0: none. */
        public Builder maxUploadSpoolSize(long maxUploadSpoolSize) {
            this.maxUploadSpoolSize = maxUploadSpoolSize;
            return this;
        }

        /** Where uploads are spooled (see {@link ProxyConfig#uploadSpoolDir()}); {@code null}: {@code java.io.tmpdir}. */
        public Builder uploadSpoolDir(java.nio.file.Path uploadSpoolDir) {
            this.uploadSpoolDir = Optional.ofNullable(uploadSpoolDir);
            return this;
        }

        public Builder maxEventSize(int maxEventSize) {
            this.maxEventSize = maxEventSize;
            return this;
        }

        /** How long a request's whole body may take to arrive (see {@link ProxyConfig#requestBodyTimeout}). */
        public Builder requestBodyTimeout(Duration requestBodyTimeout) {
            this.requestBodyTimeout = Objects.requireNonNull(requestBodyTimeout, "requestBodyTimeout");
            return this;
        }

        /** Bytes a second that extend a body's deadline (see {@link ProxyConfig#requestBodyMinRate}); 0: none. */
        public Builder requestBodyMinRate(long bytesPerSecond) {
            this.requestBodyMinRate = bytesPerSecond;
            return this;
        }

        public Builder passThroughRoutes(List<PassThroughRoute> routes) {
            this.passThroughRoutes = List.copyOf(routes);
            return this;
        }

        public Builder sessions(SessionConfig sessions) {
            this.sessions = sessions;
            return this;
        }

        /** How generated images are stored and served. */
        public Builder images(ImageConfig images) {
            this.images = images;
            return this;
        }

        /** Where the usage ledger is kept, and for how long. */
        public Builder ledger(io.github.openaiproxy.core.usage.ledger.LedgerConfig ledger) {
            this.ledger = Objects.requireNonNull(ledger, "ledger");
            return this;
        }

        /** The most upstream calls in flight at once (503 over it); 0 for no cap. Default 1000. */
        public Builder maxConcurrentUpstreamCalls(int max) {
            this.maxConcurrentUpstreamCalls = max;
            return this;
        }

        /** The most upstream calls in flight at once per client address (429 over it); 0 for no cap. Default 64. */
        public Builder maxConcurrentUpstreamCallsPerClient(int max) {
            this.maxConcurrentUpstreamCallsPerClient = max;
            return this;
        }

        /** Who may call; default {@link AccessConfig#DEFAULTS} (anyone, as before access control existed). */
        public Builder access(AccessConfig access) {
            this.access = Objects.requireNonNull(access, "access");
            return this;
        }

        /** The named upstreams; default {@link io.github.openaiproxy.core.upstream.Upstreams#NONE}. */
        public Builder upstreams(io.github.openaiproxy.core.upstream.Upstreams upstreams) {
            this.upstreams = Objects.requireNonNull(upstreams, "upstreams");
            return this;
        }

        /** Price overrides and the default price; default {@link PricesConfig#DEFAULTS} (the shipped prices). */
        public Builder prices(PricesConfig prices) {
            this.prices = Objects.requireNonNull(prices, "prices");
            return this;
        }

        /** Builds the configuration; throws {@link IllegalArgumentException} naming the bad setting. */
        public ProxyConfig build() {
            return new ProxyConfig(this);
        }
    }
}
