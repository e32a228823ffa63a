package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.convert.DurationUnit;
import org.springframework.util.unit.DataSize;

/**
 * The proxy's settings under {@code openai.proxy}, for Spring Boot's binding and its configuration metadata
 * (IDE help): fields, their defaults and their documentation, nothing else. The keys are those of core's
 * settings catalog ({@code ProxySettings.CATALOG}, {@code GraphQlOptions.SETTINGS}) with this prefix, plus
 * the starter's own ({@link OpenAiProxySettings#SPRING_ONLY}); they are mapped onto core's configuration by
 * core's settings binder ({@link OpenAiProxySettings}). The defaults written here repeat the catalog's so
 * that IDEs can show them; a test keeps them equal (lists come from core, and
 * {@code additional-spring-configuration-metadata.json} shows them). Durations given as plain numbers are
 * seconds, as everywhere else in the proxy.
 */
@ConfigurationProperties(prefix = "openai.proxy")
public class OpenAiProxyProperties {
    /** Whether to mount the proxy; 'false' disables every bean of the starter. */
    private boolean enabled = true;

    /**
     * The server's OpenAI API key, sent upstream as 'Authorization: Bearer'. Set it from a secret
     * store or the environment, for example 'openai.proxy.api-key=${OPENAI_API_KEY:}' (the ':' matters: an
     * unset variable otherwise leaves the placeholder's text as the key). Without one (and without client keys)
     * calls answer 500.
     */
    private String apiKey;

    /**
     * The upstream API root, with or without a trailing '/v1'. Any OpenAI-compatible server works;
     * clients can never choose the upstream host.
     */
    private String baseUrl = "https://api.openai.com";

    /**
     * Where the proxy is mounted in the application, for example '/ai': the proxy then owns every
     * path below it. At '/' it takes only the requests it serves (its routes with their methods and
     * the CORS preflights to them) and leaves every other request to the application.
     */
    private String path = "/";

    /**
     * Whether a non-empty 'x-openai-key' request header replaces the server key. When disabled, such
     * a request is refused with 403.
     */
    private boolean allowClientKey = false;

    /**
     * The host names the proxy answers to ('chat.example.com', '.example.com' for a domain and its
     * subdomains, 'localhost', '127.0.0.1'); a request addressed to another host is refused with 403.
     * Guards against DNS rebinding, where a page on another domain reaches the proxy as if same-origin.
     * Empty: any host.
     */
    private List<String> allowedHosts = new ArrayList<>();

    /** The OpenAI organization sent upstream as 'OpenAI-Organization'. */
    private String organization;

    /** The OpenAI project sent upstream as 'OpenAI-Project'. */
    private String project;

    /** Time to connect to the upstream; over it the client gets 504. */
    @DurationUnit(ChronoUnit.SECONDS)
    private Duration connectTimeout = Duration.ofSeconds(10);

    /**
     * Time to the upstream's response headers (a non-streamed completion sends them only when done); over
     * it the client gets 504. A stream is not cut off once it has started.
     */
    @DurationUnit(ChronoUnit.SECONDS)
    private Duration responseTimeout = Duration.ofMinutes(10);

    /**
     * The HTTP client that calls the upstream: 'auto' (Jetty's when jetty-client is on the class path, as the
     * starter brings it, else the JDK's), 'jetty' or 'jdk'.
     */
    private UpstreamConfig.ClientKind upstreamClient = UpstreamConfig.ClientKind.AUTO;

    /**
     * The HTTP version spoken to the upstream: 'auto' (the client's own: the JDK's HTTP/2 over TLS where offered,
     * Jetty's HTTP/1.1), '1.1', or '2' (many calls in flight on one connection: over TLS where the server offers it,
     * else HTTP/1.1; on plain http, named upstreams too, with prior knowledge). With Jetty's client '2' needs
     * org.eclipse.jetty.http2:jetty-http2-client-transport and org.eclipse.jetty:jetty-alpn-java-client.
     */
    private String upstreamHttpVersion = "auto";

    /**
     * Largest request body the proxy reads or parses (JSON; chat bodies can carry base64 images), and of any other
     * body but an upload; over it the client gets 413.
     */
    private DataSize maxBodySize = DataSize.ofMegabytes(10);

    /**
     * Largest upload: a non-JSON body (multipart/form-data, binary) the proxy streams unread on a pass-through route
     * that takes no JSON ({@code POST /v1/files}, {@code /v1/audio/transcriptions}), counted as it passes; over it
     * the client gets 413. Never below max-body-size.
     */
    private DataSize maxUploadSize = DataSize.ofMegabytes(512);

    /**
     * Most bytes all multipart uploads together spool to disk at once while read on for a model field that follows
     * their file (with named upstreams routing by model); past it an upload is routed as naming no model. 0: never.
     */
    private DataSize maxUploadSpoolSize = DataSize.ofMegabytes(256);

    /** Directory of those spool files (owner-only, deleted when their call ends); unset: java.io.tmpdir. */
    private String uploadSpoolDir;

    /** Largest single upstream Server-Sent Event relayed. */
    private DataSize maxEventSize = DataSize.ofMegabytes(16);

    /**
     * How long a request's whole body may take to arrive, from when the request came in; over it the client gets
     * 408 (a streamed body's upstream call is aborted). The container's read timeout bounds each read only.
     */
    @DurationUnit(ChronoUnit.SECONDS)
    private Duration requestBodyTimeout = Duration.ofMinutes(30);

    /**
     * Per second: each such amount of a request body received adds a second to request-body-timeout, so an honest
     * large upload on a slow link is never cut while a trickle gains next to nothing. 0: the timeout alone.
     */
    private DataSize requestBodyMinRate = DataSize.ofKilobytes(8);

    /**
     * The OpenAI-compatible routes relayed unchanged, each written 'METHOD /v1/path' ('{name}'
     * matches one path segment). Replaces the default set.
     */
    private List<String> passThroughRoutes = new ArrayList<>(
            PassThroughRoute.DEFAULTS.stream().map(PassThroughRoute::toString).toList());

    private final Cors cors = new Cors();

    private final Chat chat = new Chat();

    private final Image image = new Image();

    private final Sessions sessions = new Sessions();

    private final Images images = new Images();

    private final Graphql graphql = new Graphql();

    private final Metrics metrics = new Metrics();

    private final Health health = new Health();

    /**
     * How long an answer may wait for the upstream's next bytes once its headers are in (an event stream's
     * next event, its first included, or a body's next read). Over it the upstream call is aborted; a stream
     * ends with an 'upstream_timeout' error event, a body with 504. Generous, since a reasoning model may
     * think for minutes before its first token.
     */
    @DurationUnit(ChronoUnit.SECONDS)
    private Duration streamIdleTimeout = Duration.ofMinutes(5);

    private final Limits limits = new Limits();

    private final Access access = new Access();

    private final Admin admin = new Admin();

    private final Ledger ledger = new Ledger();

    private final Tracing tracing = new Tracing();

    /**
     * Named policies, 'openai.proxy.policies.<name>.<rule>': the routes, models and caps of the callers they
     * are assigned to. 'keys', 'users' and 'anonymous' are the default policies (unrestricted unless set).
     */
    private final java.util.Map<String, PolicyProperties> policies = new java.util.LinkedHashMap<>();

    /**
     * Named upstreams, 'openai.proxy.upstreams.<name>.<setting>': the providers requests are routed to by
     * model. None by default: every request goes to the upstream of 'api-key' and 'base-url' (named 'openai').
     */
    private final java.util.Map<String, UpstreamProperties> upstreams = new java.util.LinkedHashMap<>();

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public String getApiKey() {
        return apiKey;
    }

    public void setApiKey(String apiKey) {
        this.apiKey = apiKey;
    }

    public String getBaseUrl() {
        return baseUrl;
    }

    public void setBaseUrl(String baseUrl) {
        this.baseUrl = baseUrl;
    }

    public String getPath() {
        return path;
    }

    public void setPath(String path) {
        this.path = path;
    }

    public List<String> getAllowedHosts() {
        return allowedHosts;
    }

    public void setAllowedHosts(List<String> allowedHosts) {
        this.allowedHosts = allowedHosts;
    }

    public boolean isAllowClientKey() {
        return allowClientKey;
    }

    public void setAllowClientKey(boolean allowClientKey) {
        this.allowClientKey = allowClientKey;
    }

    public String getOrganization() {
        return organization;
    }

    public void setOrganization(String organization) {
        this.organization = organization;
    }

    public String getProject() {
        return project;
    }

    public void setProject(String project) {
        this.project = project;
    }

    public Duration getConnectTimeout() {
        return connectTimeout;
    }

    public void setConnectTimeout(Duration connectTimeout) {
        this.connectTimeout = connectTimeout;
    }

    public Duration getResponseTimeout() {
        return responseTimeout;
    }

    public void setResponseTimeout(Duration responseTimeout) {
        this.responseTimeout = responseTimeout;
    }

    public UpstreamConfig.ClientKind getUpstreamClient() {
        return upstreamClient;
    }

    public void setUpstreamClient(UpstreamConfig.ClientKind upstreamClient) {
        this.upstreamClient = upstreamClient;
    }

    public String getUpstreamHttpVersion() {
        return upstreamHttpVersion;
    }

    public void setUpstreamHttpVersion(String upstreamHttpVersion) {
        this.upstreamHttpVersion = upstreamHttpVersion;
    }

    public DataSize getMaxBodySize() {
        return maxBodySize;
    }

    public void setMaxBodySize(DataSize maxBodySize) {
        this.maxBodySize = maxBodySize;
    }

    public DataSize getMaxUploadSize() {
        return maxUploadSize;
    }

    public void setMaxUploadSize(DataSize maxUploadSize) {
        this.maxUploadSize = maxUploadSize;
    }

    public DataSize getMaxUploadSpoolSize() {
        return maxUploadSpoolSize;
    }

    public void setMaxUploadSpoolSize(DataSize maxUploadSpoolSize) {
        this.maxUploadSpoolSize = maxUploadSpoolSize;
    }

    public String getUploadSpoolDir() {
        return uploadSpoolDir;
    }

    public void setUploadSpoolDir(String uploadSpoolDir) {
        this.uploadSpoolDir = uploadSpoolDir;
    }

    public DataSize getMaxEventSize() {
        return maxEventSize;
    }

    public void setMaxEventSize(DataSize maxEventSize) {
        this.maxEventSize = maxEventSize;
    }

    public List<String> getPassThroughRoutes() {
        return passThroughRoutes;
    }

    public void setPassThroughRoutes(List<String> passThroughRoutes) {
        this.passThroughRoutes = passThroughRoutes;
    }

    public Cors getCors() {
        return cors;
    }

    public Chat getChat() {
        return chat;
    }

    public Image getImage() {
        return image;
    }

    public Sessions getSessions() {
        return sessions;
    }

    public Images getImages() {
        return images;
    }

    public Graphql getGraphql() {
        return graphql;
    }

    public Metrics getMetrics() {
        return metrics;
    }

    public Health getHealth() {
        return health;
    }

    public Duration getRequestBodyTimeout() {
        return requestBodyTimeout;
    }

    public void setRequestBodyTimeout(Duration requestBodyTimeout) {
        this.requestBodyTimeout = requestBodyTimeout;
    }

    public DataSize getRequestBodyMinRate() {
        return requestBodyMinRate;
    }

    public void setRequestBodyMinRate(DataSize requestBodyMinRate) {
        this.requestBodyMinRate = requestBodyMinRate;
    }

    public Duration getStreamIdleTimeout() {
        return streamIdleTimeout;
    }

    public void setStreamIdleTimeout(Duration streamIdleTimeout) {
        this.streamIdleTimeout = streamIdleTimeout;
    }

    public Limits getLimits() {
        return limits;
    }

    public Access getAccess() {
        return access;
    }

    public Admin getAdmin() {
        return admin;
    }

    public Ledger getLedger() {
        return ledger;
    }

    public Tracing getTracing() {
        return tracing;
    }

    public java.util.Map<String, PolicyProperties> getPolicies() {
        return policies;
    }

    public java.util.Map<String, UpstreamProperties> getUpstreams() {
        return upstreams;
    }

    @Override
    public String toString() {
        // Never the key.
        return "OpenAiProxyProperties[enabled=" + enabled + ", path=" + path + ", baseUrl=" + baseUrl + ", apiKey="
                + (apiKey == null || apiKey.isBlank() ? "absent" : "configured") + "]";
    }

    /**
     * What the proxy's observers make of a client's trace context. In Spring Boot the proxy's observations are
     * children of Boot's HTTP server observation; with 'ignore' a filter ahead of it hides the client's trace context
     * headers from the requests to the proxy's routes, so that observation does not continue the client's trace
     * either (the application's other routes are left to Boot).
     */
    public static class Tracing {
        /**
         * A client's trace context: 'ignore' (observers get no request headers, the proxy's sampler decides alone)
         * or 'continue' (its trace, and its sampled flag, are followed).
         */
        private io.github.openaiproxy.core.observe.ClientTraceContext clientContext =
                io.github.openaiproxy.core.observe.ClientTraceContext.IGNORE;

        public io.github.openaiproxy.core.observe.ClientTraceContext getClientContext() {
            return clientContext;
        }

        public void setClientContext(io.github.openaiproxy.core.observe.ClientTraceContext clientContext) {
            this.clientContext = clientContext;
        }
    }

    /** Cross-origin access for browser front ends. None by default. */
    public static class Cors {
        /**
         * Origins allowed to call the proxy from a browser: exact origins such as
         * 'https://chat.example.com', patterns such as 'http://localhost:*', or '*' for any.
         */
        private List<String> allowedOrigins = new ArrayList<>();

        /**
         * Origin patterns: '*' matches one host label or a port (':*' also matches no port), for
         * example 'https://*.example.com'.
         */
        private List<String> allowedOriginPatterns = new ArrayList<>();

        /** Request headers a browser may send; entries ending in '*' match by prefix. */
        private List<String> allowedHeaders = new ArrayList<>(CorsConfig.DEFAULT_ALLOWED_HEADERS);

        /** Response headers scripts may read. */
        private List<String> exposedHeaders = new ArrayList<>(CorsConfig.DEFAULT_EXPOSED_HEADERS);

        /** How long browsers may cache a preflight answer. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration maxAge = Duration.ofSeconds(86400);

        /**
         * Whether browsers may send cookies and HTTP authentication; refused at start-up together with
         * '*' origins.
         */
        private boolean allowCredentials = false;

        public List<String> getAllowedOrigins() {
            return allowedOrigins;
        }

        public void setAllowedOrigins(List<String> allowedOrigins) {
            this.allowedOrigins = allowedOrigins;
        }

        public List<String> getAllowedOriginPatterns() {
            return allowedOriginPatterns;
        }

        public void setAllowedOriginPatterns(List<String> allowedOriginPatterns) {
            this.allowedOriginPatterns = allowedOriginPatterns;
        }

        public List<String> getAllowedHeaders() {
            return allowedHeaders;
        }

        public void setAllowedHeaders(List<String> allowedHeaders) {
            this.allowedHeaders = allowedHeaders;
        }

        public List<String> getExposedHeaders() {
            return exposedHeaders;
        }

        public void setExposedHeaders(List<String> exposedHeaders) {
            this.exposedHeaders = exposedHeaders;
        }

        public Duration getMaxAge() {
            return maxAge;
        }

        public void setMaxAge(Duration maxAge) {
            this.maxAge = maxAge;
        }

        public boolean isAllowCredentials() {
            return allowCredentials;
        }

        public void setAllowCredentials(boolean allowCredentials) {
            this.allowCredentials = allowCredentials;
        }
    }

    /** Defaults filled into chat bodies on 'POST /' when a field is absent or null. */
    public static class Chat {
        /** Default 'model' (the original proxy's; pick a current model in production). */
        private String model = "gpt-3.5-turbo";

        /** Default 'temperature'. */
        private BigDecimal temperature = new BigDecimal("0.7");

        /** Default 'max_tokens' (not added when the body has 'max_completion_tokens'). */
        private int maxTokens = 1000;

        /** Whether chat answers stream by default. */
        private boolean stream = false;

        public String getModel() {
            return model;
        }

        public void setModel(String model) {
            this.model = model;
        }

        public BigDecimal getTemperature() {
            return temperature;
        }

        public void setTemperature(BigDecimal temperature) {
            this.temperature = temperature;
        }

        public int getMaxTokens() {
            return maxTokens;
        }

        public void setMaxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
        }

        public boolean isStream() {
            return stream;
        }

        public void setStream(boolean stream) {
            this.stream = stream;
        }
    }

    /**
     * Defaults filled into image bodies on the simple routes, each only where the chosen model accepts
     * it.
     */
    public static class Image {
        /** Default image 'model'. */
        private String model = "dall-e-3";

        /** Default number of images, 'n'. */
        private int n = 1;

        /** Default 'size'. */
        private String size = "1024x1024";

        /** Default 'quality'. */
        private String quality = "standard";

        /** Default 'style' (dall-e-3 only). */
        private String style = "vivid";

        /** Default 'response_format' (DALL-E only; GPT image models always return b64_json). */
        private String responseFormat = "url";

        public String getModel() {
            return model;
        }

        public void setModel(String model) {
            this.model = model;
        }

        public int getN() {
            return n;
        }

        public void setN(int n) {
            this.n = n;
        }

        public String getSize() {
            return size;
        }

        public void setSize(String size) {
            this.size = size;
        }

        public String getQuality() {
            return quality;
        }

        public void setQuality(String quality) {
            this.quality = quality;
        }

        public String getStyle() {
            return style;
        }

        public void setStyle(String style) {
            this.style = style;
        }

        public String getResponseFormat() {
            return responseFormat;
        }

        public void setResponseFormat(String responseFormat) {
            this.responseFormat = responseFormat;
        }
    }

    /**
     * Chat sessions: 'POST /sessions', then 'sessionId' on a chat records the turn; history is read back
     * over 'GET /sessions/{id}/messages' (and GraphQL's 'chatHistory').
     */
    public static class Sessions {
        /**
         * Whether the '/sessions' routes exist and 'sessionId' is accepted on 'POST /'. Turn off when the
         * application has routes of its own under '/sessions' next to a proxy mounted at '/'; no store is
         * created then.
         */
        private boolean enabled = true;

        /**
         * Whether a chat in a session sends the session's stored history upstream before its own
         * messages when the request does not say ('includeHistory').
         */
        private boolean historyAsContext = false;

        /** The most stored messages (the latest ones) sent upstream as context. */
        private int contextMessages = 100;

        /**
         * Where sessions are kept: 'auto' (the default everywhere, as in the standalone server) uses the
         * database when there is one, here the application's DataSource when it has exactly one (or a
         * primary one), else memory; 'jdbc' requires the DataSource; 'memory' is a bounded store lost on
         * restart. The JDBC store creates its tables (prefix 'openai_proxy_') at start-up. Ignored when
         * the application defines its own SessionStore bean.
         */
        private Store store = Store.AUTO;

        /**
         * How long a session is kept after its last message, for example '30d'. Unset, the JDBC store keeps
         * sessions until they are deleted and the memory store drops them after 24 hours without use.
         */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration retention;

        /**
         * The most bytes one stored message may have (its text, plus the JSON of multi-part content). A new
         * message over it is refused with 413 before the upstream call; an assistant reply over it reaches
         * the client whole and is recorded as a short marker.
         */
        private DataSize maxMessageSize = DataSize.ofMegabytes(1);

        /**
         * The most bytes a session may hold. A session that reached it takes no new turn (413 'session_full',
         * before the upstream call; nothing is dropped): start a new session or delete it.
         */
        private DataSize maxSessionSize = DataSize.ofMegabytes(16);

        /**
         * The most message bytes in one 'GET /sessions/{id}/messages' page; a page stops early there (but
         * holds at least one message) and 'nextAfter' continues it.
         */
        private DataSize maxPageSize = DataSize.ofMegabytes(1);

        /**
         * How many calls of the JDBC store may wait for the engine's session threads; beyond, a call is
         * answered 503 'session_store_busy' with Retry-After.
         */
        private int queueSize = 1000;

        public DataSize getMaxMessageSize() {
            return maxMessageSize;
        }

        public void setMaxMessageSize(DataSize maxMessageSize) {
            this.maxMessageSize = maxMessageSize;
        }

        public DataSize getMaxSessionSize() {
            return maxSessionSize;
        }

        public void setMaxSessionSize(DataSize maxSessionSize) {
            this.maxSessionSize = maxSessionSize;
        }

        public DataSize getMaxPageSize() {
            return maxPageSize;
        }

        public void setMaxPageSize(DataSize maxPageSize) {
            this.maxPageSize = maxPageSize;
        }

        public int getQueueSize() {
            return queueSize;
        }

        public void setQueueSize(int queueSize) {
            this.queueSize = queueSize;
        }

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public boolean isHistoryAsContext() {
            return historyAsContext;
        }

        public void setHistoryAsContext(boolean historyAsContext) {
            this.historyAsContext = historyAsContext;
        }

        public int getContextMessages() {
            return contextMessages;
        }

        public void setContextMessages(int contextMessages) {
            this.contextMessages = contextMessages;
        }

        public Store getStore() {
            return store;
        }

        public void setStore(Store store) {
            this.store = store;
        }

        public Duration getRetention() {
            return retention;
        }

        public void setRetention(Duration retention) {
            this.retention = retention;
        }

        /** Where sessions are kept. */
        public enum Store {
            /** The application's DataSource if it has one, else memory. */
            AUTO,
            /** The application's DataSource; start-up fails without one. */
            JDBC,
            /** In memory, bounded, lost on restart. */
            MEMORY
        }
    }

    /**
     * Image storage: generated images kept after the upstream's links expire, served at
     * '/images/files/{id}.{ext}' under the proxy's path.
     */
    public static class Images {
        /**
         * Where generated images are kept: 'none' (links relayed as they come), 'filesystem' (in 'directory'),
         * 'jdbc' (the application's DataSource, table 'openai_proxy_images') or 's3' (the bucket of 's3.bucket';
         * the application adds software.amazon.awssdk:s3 and url-connection-client).
         */
        private Store store = Store.NONE;

        /** The filesystem image store's directory. */
        private String directory = "./data/images";

        /**
         * The absolute base of the proxy's image links (scheme, host and the proxy's path); unset, links are
         * relative to the proxy's path.
         */
        private String publicBaseUrl;

        /** Hosts ('host' or 'host:port') image links may be fetched from, besides the upstream's own. */
        private List<String> fetchHosts = new ArrayList<>(List.of("oaidalleapiprodscus.blob.core.windows.net"));

        /**
         * Whether images that come as 'b64_json' are stored too when a session records the generation (the answer
         * keeps its 'b64_json' and names no link, so only a session learns where they are kept).
         */
        private boolean storeB64 = true;

        /** Whether an identified caller's images are served to that caller only. */
        private boolean privateImages = true;

        /** How long an image is kept, for example '30d'; unset, until deleted. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration retention;

        /** The most bytes of one stored image; unset, the proxy's max-body-size. */
        private DataSize maxSize;

        /** Time to fetch one upstream image link, body included. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration fetchTimeout = Duration.ofSeconds(30);

        /** The S3 image store ('store: s3'); credentials from the AWS SDK's default chain. */
        private final S3 s3 = new S3();

        public Store getStore() {
            return store;
        }

        public void setStore(Store store) {
            this.store = store;
        }

        public String getDirectory() {
            return directory;
        }

        public void setDirectory(String directory) {
            this.directory = directory;
        }

        public String getPublicBaseUrl() {
            return publicBaseUrl;
        }

        public void setPublicBaseUrl(String publicBaseUrl) {
            this.publicBaseUrl = publicBaseUrl;
        }

        public List<String> getFetchHosts() {
            return fetchHosts;
        }

        public void setFetchHosts(List<String> fetchHosts) {
            this.fetchHosts = fetchHosts;
        }

        public boolean isStoreB64() {
            return storeB64;
        }

        public void setStoreB64(boolean storeB64) {
            this.storeB64 = storeB64;
        }

        /** Whether an identified caller's images are served to that caller only ('images.private'). */
        public boolean isPrivate() {
            return privateImages;
        }

        public void setPrivate(boolean privateImages) {
            this.privateImages = privateImages;
        }

        public Duration getRetention() {
            return retention;
        }

        public void setRetention(Duration retention) {
            this.retention = retention;
        }

        public DataSize getMaxSize() {
            return maxSize;
        }

        public void setMaxSize(DataSize maxSize) {
            this.maxSize = maxSize;
        }

        public Duration getFetchTimeout() {
            return fetchTimeout;
        }

        public void setFetchTimeout(Duration fetchTimeout) {
            this.fetchTimeout = fetchTimeout;
        }

        public S3 getS3() {
            return s3;
        }

        /** The S3 image store's bucket and access. */
        public static class S3 {
            /** The bucket (required with 'store: s3'). */
            private String bucket;

            /** The bucket's region; unset, the AWS SDK's region chain, or us-east-1 with an endpoint. */
            private String region;

            /** An S3-compatible service's endpoint (MinIO, Cloudflare R2, ...); unset, AWS S3. */
            private String endpoint;

            /** Whether the bucket is addressed in the path (most self-hosted services need it). */
            private boolean pathStyle;

            /** The start of every image's object key, such as 'images/'. */
            private String prefix;

            /** When set, image GETs redirect (302) to a presigned link valid this long; unset, bytes served. */
            @DurationUnit(ChronoUnit.SECONDS)
            private Duration presign;

            public String getBucket() {
                return bucket;
            }

            public void setBucket(String bucket) {
                this.bucket = bucket;
            }

            public String getRegion() {
                return region;
            }

            public void setRegion(String region) {
                this.region = region;
            }

            public String getEndpoint() {
                return endpoint;
            }

            public void setEndpoint(String endpoint) {
                this.endpoint = endpoint;
            }

            public boolean isPathStyle() {
                return pathStyle;
            }

            public void setPathStyle(boolean pathStyle) {
                this.pathStyle = pathStyle;
            }

            public String getPrefix() {
                return prefix;
            }

            public void setPrefix(String prefix) {
                this.prefix = prefix;
            }

            public Duration getPresign() {
                return presign;
            }

            public void setPresign(Duration presign) {
                this.presign = presign;
            }
        }

        /** Where generated images are kept. */
        public enum Store {
            /** Not stored. */
            NONE,
            /** In a directory. */
            FILESYSTEM,
            /** In the application's DataSource. */
            JDBC,
            /** In an S3 bucket. */
            S3
        }
    }

    /**
     * The GraphQL endpoint, mounted when the module 'openai-proxy-graphql' is on the class path. Its path
     * is relative to the proxy's ('/ai/graphql' when the proxy is at '/ai').
     */
    public static class Graphql {
        /** Whether to mount the GraphQL endpoint (when the module is on the class path). */
        private boolean enabled = true;

        /** Where the endpoint is mounted, relative to the proxy's path. */
        private String path = "/graphql";

        /** Deepest selection accepted; deeper queries are refused. */
        private int maxDepth = 15;

        /**
         * Most fields per operation (each counts one, a top-level field 25: each runs a route; fragments expanded),
         * and selections per document as written ('__typename' and fragment spreads included), counted before validation.
         */
        private int maxComplexity = 500;

        /** Longest query document accepted, in characters; longer ones are refused with 400. */
        private int maxDocumentSize = 100_000;

        /** Whether '__schema' and '__type' queries are answered (for this endpoint only). */
        private boolean introspection = true;

        /**
         * Most billed upstream calls (getAIResponse, generateImage, chatStream; aliases and fragments
         * counted) per operation; over it the operation is refused before any call is made.
         */
        private int maxUpstreamCalls = 1;

        /** Largest GraphQL answer; over it the answer is a RESPONSE_TOO_LARGE error. Default: max-body-size. */
        private DataSize maxResponseSize;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public String getPath() {
            return path;
        }

        public void setPath(String path) {
            this.path = path;
        }

        public int getMaxDepth() {
            return maxDepth;
        }

        public void setMaxDepth(int maxDepth) {
            this.maxDepth = maxDepth;
        }

        public int getMaxComplexity() {
            return maxComplexity;
        }

        public void setMaxComplexity(int maxComplexity) {
            this.maxComplexity = maxComplexity;
        }

        public int getMaxDocumentSize() {
            return maxDocumentSize;
        }

        public void setMaxDocumentSize(int maxDocumentSize) {
            this.maxDocumentSize = maxDocumentSize;
        }

        public boolean isIntrospection() {
            return introspection;
        }

        public void setIntrospection(boolean introspection) {
            this.introspection = introspection;
        }

        public int getMaxUpstreamCalls() {
            return maxUpstreamCalls;
        }

        public void setMaxUpstreamCalls(int maxUpstreamCalls) {
            this.maxUpstreamCalls = maxUpstreamCalls;
        }

        public DataSize getMaxResponseSize() {
            return maxResponseSize;
        }

        public void setMaxResponseSize(DataSize maxResponseSize) {
            this.maxResponseSize = maxResponseSize;
        }
    }

    /** Micrometer metrics (with a 'MeterRegistry' in the application, such as Actuator's). */
    public static class Metrics {
        /**
         * Most distinct values of the 'model' tag. Clients choose the model name, so a model becomes
         * a tag value only once the upstream has answered a request for it successfully, and only while
         * fewer than this many are known; every other request is tagged 'other'.
         */
        private int maxModelTags = 50;

        public int getMaxModelTags() {
            return maxModelTags;
        }

        public void setMaxModelTags(int maxModelTags) {
            this.maxModelTags = maxModelTags;
        }
    }

    /** Caps on upstream calls in flight; a call counts until its answer (a stream's last event) is relayed. */
    public static class Limits {
        /** The most upstream calls in flight at once; over it a request gets 503 with Retry-After. 0: no cap. */
        private int maxConcurrentUpstreamCalls = 1000;

        /**
         * The most upstream calls in flight at once per client address (the connection's peer, or the client a
         * proxy of access.trusted-proxies names); over it a request gets 429 with Retry-After. It also caps the
         * client's credential checks (stored keys, JWTs) waiting for the access threads. 0: no cap.
         */
        private int maxConcurrentUpstreamCallsPerClient = 64;

        public int getMaxConcurrentUpstreamCalls() {
            return maxConcurrentUpstreamCalls;
        }

        public void setMaxConcurrentUpstreamCalls(int maxConcurrentUpstreamCalls) {
            this.maxConcurrentUpstreamCalls = maxConcurrentUpstreamCalls;
        }

        public int getMaxConcurrentUpstreamCallsPerClient() {
            return maxConcurrentUpstreamCallsPerClient;
        }

        public void setMaxConcurrentUpstreamCallsPerClient(int maxConcurrentUpstreamCallsPerClient) {
            this.maxConcurrentUpstreamCallsPerClient = maxConcurrentUpstreamCallsPerClient;
        }

        // Prices (issue 12): overrides of the shipped OpenAI prices, for the usage ledger and money budgets.

        /**
         * Model prices replacing or adding to the shipped OpenAI ones, each 'model=input/cached/output' in US
         * dollars per million tokens, for example 'gpt-4o=2.5/1.25/10'.
         */
        private List<String> prices = new ArrayList<>();

        /**
         * Image prices replacing or adding to the shipped ones, each 'model/quality/size=dollars' per image, for
         * example 'dall-e-3/hd/1024x1792=0.12'.
         */
        private List<String> imagePrices = new ArrayList<>();

        /**
         * The price ('input/cached/output' dollars per million tokens) of a model without one, charged where a
         * policy says so. None by default.
         */
        private String defaultPrice;

        public List<String> getPrices() {
            return prices;
        }

        public void setPrices(List<String> prices) {
            this.prices = prices;
        }

        public List<String> getImagePrices() {
            return imagePrices;
        }

        public void setImagePrices(List<String> imagePrices) {
            this.imagePrices = imagePrices;
        }

        public String getDefaultPrice() {
            return defaultPrice;
        }

        public void setDefaultPrice(String defaultPrice) {
            this.defaultPrice = defaultPrice;
        }

        // Rate limits and budgets: where the policies' quotas are counted.

        /**
         * Where rate limits and budgets are counted: 'memory' (this instance), 'jdbc' (the application's
         * DataSource) or 'redis' ('redis-url').
         */
        private io.github.openaiproxy.core.limits.LimitsConfig.Store store =
                io.github.openaiproxy.core.limits.LimitsConfig.Store.MEMORY;

        /** The Redis URI of store 'redis' (redis://, rediss://, redis-sentinel://). */
        private String redisUrl;

        /** Output tokens reserved for a request without max_tokens when its policy has no max-tokens. */
        private int defaultOutputTokens = 4096;

        /** The longest a concurrency lease is held (freed after it when an instance dies holding it). */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration leaseTimeout = Duration.ofMinutes(10);

        /** The longest wait for the limit store's answer; a later one counts as the store being down. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration storeTimeout = Duration.ofSeconds(2);

        /** Rate limits while the store is down: 'allow' (counted once it is back) or 'refuse' (503). */
        private io.github.openaiproxy.core.limits.LimitsConfig.WhenDown rateLimitsWhenDown =
                io.github.openaiproxy.core.limits.LimitsConfig.WhenDown.ALLOW;

        /** Budgets while the store is down: 'refuse' (503) or 'allow' (counted once it is back). */
        private io.github.openaiproxy.core.limits.LimitsConfig.WhenDown budgetsWhenDown =
                io.github.openaiproxy.core.limits.LimitsConfig.WhenDown.REFUSE;

        public io.github.openaiproxy.core.limits.LimitsConfig.Store getStore() {
            return store;
        }

        public void setStore(io.github.openaiproxy.core.limits.LimitsConfig.Store store) {
            this.store = store;
        }

        public String getRedisUrl() {
            return redisUrl;
        }

        public void setRedisUrl(String redisUrl) {
            this.redisUrl = redisUrl;
        }

        public int getDefaultOutputTokens() {
            return defaultOutputTokens;
        }

        public void setDefaultOutputTokens(int defaultOutputTokens) {
            this.defaultOutputTokens = defaultOutputTokens;
        }

        public Duration getLeaseTimeout() {
            return leaseTimeout;
        }

        public void setLeaseTimeout(Duration leaseTimeout) {
            this.leaseTimeout = leaseTimeout;
        }

        public Duration getStoreTimeout() {
            return storeTimeout;
        }

        public void setStoreTimeout(Duration storeTimeout) {
            this.storeTimeout = storeTimeout;
        }

        public io.github.openaiproxy.core.limits.LimitsConfig.WhenDown getRateLimitsWhenDown() {
            return rateLimitsWhenDown;
        }

        public void setRateLimitsWhenDown(io.github.openaiproxy.core.limits.LimitsConfig.WhenDown rateLimitsWhenDown) {
            this.rateLimitsWhenDown = rateLimitsWhenDown;
        }

        public io.github.openaiproxy.core.limits.LimitsConfig.WhenDown getBudgetsWhenDown() {
            return budgetsWhenDown;
        }

        public void setBudgetsWhenDown(io.github.openaiproxy.core.limits.LimitsConfig.WhenDown budgetsWhenDown) {
            this.budgetsWhenDown = budgetsWhenDown;
        }
    }

    /**
     * Who may call. Each request is identified by a proxy key ('Authorization: Bearer opk-...'), the
     * application's authenticated user (Spring Security's principal), a bearer JWT of the configured issuer, or
     * else as an anonymous client address.
     */
    public static class Access {
        /** What callers without a credential may do: 'allow' (under the policy 'anonymous') or 'deny' (401). */
        private AccessConfig.Anonymous anonymous = AccessConfig.Anonymous.ALLOW;

        /**
         * Reverse proxies (CIDR ranges or single addresses) whose 'X-Forwarded-For' or 'Forwarded' header is
         * believed for an anonymous caller's address. None: the connection's peer.
         */
        private List<String> trustedProxies = new ArrayList<>();

        /**
         * The header the trusted proxies write the client's address in, the only one read: 'x-forwarded-for' or
         * 'forwarded' (RFC 7239). A proxy passes the other on as the client sent it.
         */
        private AccessConfig.ForwardedHeader forwardedHeader = AccessConfig.ForwardedHeader.X_FORWARDED_FOR;

        private final Jwt jwt = new Jwt();

        public AccessConfig.Anonymous getAnonymous() {
            return anonymous;
        }

        public void setAnonymous(AccessConfig.Anonymous anonymous) {
            this.anonymous = anonymous;
        }

        public List<String> getTrustedProxies() {
            return trustedProxies;
        }

        public void setTrustedProxies(List<String> trustedProxies) {
            this.trustedProxies = trustedProxies;
        }

        public AccessConfig.ForwardedHeader getForwardedHeader() {
            return forwardedHeader;
        }

        public void setForwardedHeader(AccessConfig.ForwardedHeader forwardedHeader) {
            this.forwardedHeader = forwardedHeader;
        }

        public Jwt getJwt() {
            return jwt;
        }

        /** Bearer JWTs of an OpenID Connect issuer identify users; all three set, or none. */
        public static class Jwt {
            /** The issuer ('iss') every accepted token must carry. */
            private String issuer;

            /** The audience ('aud') every accepted token must include. */
            private String audience;

            /** Where the issuer publishes its signing keys (JWKS), fetched and cached; followed on key rotation. */
            private String jwksUrl;

            public String getIssuer() {
                return issuer;
            }

            public void setIssuer(String issuer) {
                this.issuer = issuer;
            }

            public String getAudience() {
                return audience;
            }

            public void setAudience(String audience) {
                this.audience = audience;
            }

            public String getJwksUrl() {
                return jwksUrl;
            }

            public void setJwksUrl(String jwksUrl) {
                this.jwksUrl = jwksUrl;
            }
        }

        /**
         * Proxy keys declared in configuration, as hashes (for secrets kept in Git or a vault): each entry
         * '<sha256-hex>:<policy>:<name>', for example 'e3b0...b855:keys:ci'. The standalone jar's 'keys hash'
         * prints a new key with its entry. Declared keys are read-only in the admin API.
         */
        private List<String> keys = new ArrayList<>();

        public List<String> getKeys() {
            return keys;
        }

        public void setKeys(List<String> keys) {
            this.keys = keys;
        }

        /**
         * The host application's roles mapped to policies, each 'role=policy', in order: a user gets the first
         * policy whose role it has, else 'users'.
         */
        private List<String> rolePolicies = new ArrayList<>();

        public List<String> getRolePolicies() {
            return rolePolicies;
        }

        public void setRolePolicies(List<String> rolePolicies) {
            this.rolePolicies = rolePolicies;
        }
    }

    /** The Actuator health indicator ('management.health.openai-proxy.enabled' turns it off). */
    public static class Health {
        /**
         * How long an upstream check ('GET /v1/models' with the server key), or a check of the stores (Redis, S3),
         * is reused, so that health probes do not call them each time.
         */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration cacheTimeToLive = Duration.ofSeconds(30);

        /** Longest wait for the upstream check, and for the stores' check; a slower one is reported down. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration timeout = Duration.ofSeconds(5);

        public Duration getCacheTimeToLive() {
            return cacheTimeToLive;
        }

        public void setCacheTimeToLive(Duration cacheTimeToLive) {
            this.cacheTimeToLive = cacheTimeToLive;
        }

        public Duration getTimeout() {
            return timeout;
        }

        public void setTimeout(Duration timeout) {
            this.timeout = timeout;
        }
    }

    /**
     * The admin API (keys and policies over REST, JSON). Off by default; when on, callers need an admin token
     * ({@code Authorization: Bearer <token>}) or, with Spring Security, a user with the admin role.
     */
    public static class Admin {
        /** Whether the admin API is served; when off its paths are unknown (404). */
        private boolean enabled = false;

        /** Where the admin API is served, under the proxy's path. */
        private String path = "/admin";

        /** SHA-256 hashes (64 hex digits) of the admin tokens; never the tokens themselves. */
        private List<String> tokens;

        /** The role (as 'isUserInRole' asks it, for example 'PROXY_ADMIN') whose users may use the admin API. */
        private String role;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public String getPath() {
            return path;
        }

        public void setPath(String path) {
            this.path = path;
        }

        public List<String> getTokens() {
            return tokens;
        }

        public void setTokens(List<String> tokens) {
            this.tokens = tokens;
        }

        public String getRole() {
            return role;
        }

        public void setRole(String role) {
            this.role = role;
        }
    }

    /** One policy's rules; unset rules are unrestricted. */
    public static class PolicyProperties {
        /**
         * The routes allowed, by name ('chat', 'images', 'responses', 'embeddings', 'models', 'sessions',
         * 'graphql', ...) or path template ('/v1/models/{id}'). Unset: all.
         */
        private List<String> routes;

        /** The models allowed (every request but image requests), exact names or globs such as 'gpt-4o*'. */
        private List<String> models;

        /** The cap on max_tokens / max_completion_tokens / max_output_tokens; an absent one gets the cap. */
        private Integer maxTokens;

        /** The cap on n (choices or images). */
        private Integer maxN;

        /** What a request over a cap gets: 'clamp' (the value is lowered, the default) or 'refuse' (400). */
        private io.github.openaiproxy.core.access.Policy.OverCap overCap;

        /** The image models allowed, exact names or globs. */
        private List<String> imageModels;

        /** The image sizes allowed; others are refused (400). */
        private List<String> imageSizes;

        /** The image qualities allowed; others are refused (400). */
        private List<String> imageQualities;

        /** Quota: requests per minute. */
        private Long requestsPerMinute;

        /** Quota: requests per hour. */
        private Long requestsPerHour;

        /** Quota: requests per day. */
        private Long requestsPerDay;

        /** Quota: tokens per minute. */
        private Long tokensPerMinute;

        /** Quota: tokens per day. */
        private Long tokensPerDay;

        /** Quota: tokens per month. */
        private Long tokensPerMonth;

        /** Quota: requests in flight at once. */
        private Long concurrentRequests;

        /** Quota: US dollars per day. */
        private BigDecimal costPerDay;

        /** Quota: US dollars per month. */
        private BigDecimal costPerMonth;

        public List<String> getRoutes() {
            return routes;
        }

        public void setRoutes(List<String> routes) {
            this.routes = routes;
        }

        public List<String> getModels() {
            return models;
        }

        public void setModels(List<String> models) {
            this.models = models;
        }

        public Integer getMaxTokens() {
            return maxTokens;
        }

        public void setMaxTokens(Integer maxTokens) {
            this.maxTokens = maxTokens;
        }

        public Integer getMaxN() {
            return maxN;
        }

        public void setMaxN(Integer maxN) {
            this.maxN = maxN;
        }

        public io.github.openaiproxy.core.access.Policy.OverCap getOverCap() {
            return overCap;
        }

        public void setOverCap(io.github.openaiproxy.core.access.Policy.OverCap overCap) {
            this.overCap = overCap;
        }

        public List<String> getImageModels() {
            return imageModels;
        }

        public void setImageModels(List<String> imageModels) {
            this.imageModels = imageModels;
        }

        public List<String> getImageSizes() {
            return imageSizes;
        }

        public void setImageSizes(List<String> imageSizes) {
            this.imageSizes = imageSizes;
        }

        public List<String> getImageQualities() {
            return imageQualities;
        }

        public void setImageQualities(List<String> imageQualities) {
            this.imageQualities = imageQualities;
        }

        public Long getRequestsPerMinute() {
            return requestsPerMinute;
        }

        public void setRequestsPerMinute(Long requestsPerMinute) {
            this.requestsPerMinute = requestsPerMinute;
        }

        public Long getRequestsPerHour() {
            return requestsPerHour;
        }

        public void setRequestsPerHour(Long requestsPerHour) {
            this.requestsPerHour = requestsPerHour;
        }

        public Long getRequestsPerDay() {
            return requestsPerDay;
        }

        public void setRequestsPerDay(Long requestsPerDay) {
            this.requestsPerDay = requestsPerDay;
        }

        public Long getTokensPerMinute() {
            return tokensPerMinute;
        }

        public void setTokensPerMinute(Long tokensPerMinute) {
            this.tokensPerMinute = tokensPerMinute;
        }

        public Long getTokensPerDay() {
            return tokensPerDay;
        }

        public void setTokensPerDay(Long tokensPerDay) {
            this.tokensPerDay = tokensPerDay;
        }

        public Long getTokensPerMonth() {
            return tokensPerMonth;
        }

        public void setTokensPerMonth(Long tokensPerMonth) {
            this.tokensPerMonth = tokensPerMonth;
        }

        public Long getConcurrentRequests() {
            return concurrentRequests;
        }

        public void setConcurrentRequests(Long concurrentRequests) {
            this.concurrentRequests = concurrentRequests;
        }

        public BigDecimal getCostPerDay() {
            return costPerDay;
        }

        public void setCostPerDay(BigDecimal costPerDay) {
            this.costPerDay = costPerDay;
        }

        public BigDecimal getCostPerMonth() {
            return costPerMonth;
        }

        public void setCostPerMonth(BigDecimal costPerMonth) {
            this.costPerMonth = costPerMonth;
        }

        /**
         * A model without a price under a cost budget: 'refuse' (403 model_not_priced, the default) or 'default'
         * (charged at the default price).
         */
        private io.github.openaiproxy.core.access.Policy.Unpriced unpriced;

        public io.github.openaiproxy.core.access.Policy.Unpriced getUnpriced() {
            return unpriced;
        }

        public void setUnpriced(io.github.openaiproxy.core.access.Policy.Unpriced unpriced) {
            this.unpriced = unpriced;
        }
    }

    /** One named upstream; its settings are checked together by core at start-up. */
    public static class UpstreamProperties {
        /** The upstream's wire format: 'openai' (the default), 'azure' or 'compatible'. */
        private io.github.openaiproxy.core.upstream.NamedUpstream.Kind kind =
                io.github.openaiproxy.core.upstream.NamedUpstream.Kind.OPENAI;

        /** The upstream's API root; required but for kind 'openai' (default https://api.openai.com). */
        private String baseUrl;

        /** The upstream's API keys; required but for kind 'compatible'. Never logged. */
        private List<String> keys;

        /** The client model names the upstream serves, exact names or globs such as 'gpt-4o*'. */
        private List<String> models;

        /** 'client-model=upstream-model' pairs: the upstream is asked for the second (for Azure, the deployment). */
        private List<String> aliases;

        /** The 'api-version' query of an 'azure' upstream; required there. */
        private String apiVersion;

        /** Where a request goes once this upstream has failed it, in order: 'upstream' or 'upstream:model'. */
        private List<String> fallback;

        /**
         * On a 400 'context_length_exceeded', once, before the first byte: 'model' or 'upstream:model', a model
         * with a larger context window; unset: the 400 is relayed.
         */
        private String contextFallback;

        public String getContextFallback() {
            return contextFallback;
        }

        public void setContextFallback(String contextFallback) {
            this.contextFallback = contextFallback;
        }

        /**
         * Extra headers sent on every call, 'Name=value' pairs; hop-by-hop and credential headers are refused at
         * start-up. Values are never logged.
         */
        private List<String> headers;

        /** Time to connect to this upstream; unset: 'openai.proxy.connect-timeout'. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration connectTimeout;

        /** Time to this upstream's response headers, retried as a failure when over; unset: 'response-timeout'. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration timeout;

        /**
         * HTTP version to this upstream: 'auto', '1.1' or '2'; unset: 'upstream-http-version'. One that differs from it
         * gets a client of its own.
         */
        private String httpVersion;

        /** 'OpenAI-Organization' of a kind 'openai' upstream. */
        private String organization;

        /** 'OpenAI-Project' of a kind 'openai' upstream. */
        private String project;

        /** How a kind 'compatible' upstream gets its key: 'bearer', 'header:<Name>' (the bare key) or 'none'. */
        private String auth = "bearer";

        /** Azure's API form: 'deployments' (with 'api-version') or 'v1' ('/openai/v1/...', model in the body). */
        private String azureApi = "deployments";

        public List<String> getHeaders() {
            return headers;
        }

        public void setHeaders(List<String> headers) {
            this.headers = headers;
        }

        public Duration getConnectTimeout() {
            return connectTimeout;
        }

        public void setConnectTimeout(Duration connectTimeout) {
            this.connectTimeout = connectTimeout;
        }

        public Duration getTimeout() {
            return timeout;
        }

        public void setTimeout(Duration timeout) {
            this.timeout = timeout;
        }

        public String getHttpVersion() {
            return httpVersion;
        }

        public void setHttpVersion(String httpVersion) {
            this.httpVersion = httpVersion;
        }

        public String getOrganization() {
            return organization;
        }

        public void setOrganization(String organization) {
            this.organization = organization;
        }

        public String getProject() {
            return project;
        }

        public void setProject(String project) {
            this.project = project;
        }

        public String getAuth() {
            return auth;
        }

        public void setAuth(String auth) {
            this.auth = auth;
        }

        public String getAzureApi() {
            return azureApi;
        }

        public void setAzureApi(String azureApi) {
            this.azureApi = azureApi;
        }

        /** Retries on this upstream (0 to 10) before its fallbacks, before the first byte of an answer only. */
        private int retries = 2;

        /** The statuses retried, besides connection failures and timeouts; 429 and 5xx only. */
        private List<Integer> retryStatuses = new ArrayList<>(List.of(429, 500, 502, 503, 504));

        /** How long a key rests after a 429 that sends no 'retry-after-ms' or 'Retry-After'. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration keyCooldown = Duration.ofSeconds(10);

        /** The longest a request routed here spends on retries and fallbacks, waits included. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration retryDeadline = Duration.ofSeconds(30);

        /** Failures in a row (those retried) after which the upstream is skipped for 'breaker-open'; 0: off. */
        private int breakerFailures = 5;

        /** How long an open circuit skips the upstream before one trial request. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration breakerOpen = Duration.ofSeconds(30);

        public int getBreakerFailures() {
            return breakerFailures;
        }

        public void setBreakerFailures(int breakerFailures) {
            this.breakerFailures = breakerFailures;
        }

        public Duration getBreakerOpen() {
            return breakerOpen;
        }

        public void setBreakerOpen(Duration breakerOpen) {
            this.breakerOpen = breakerOpen;
        }

        public int getRetries() {
            return retries;
        }

        public void setRetries(int retries) {
            this.retries = retries;
        }

        public List<Integer> getRetryStatuses() {
            return retryStatuses;
        }

        public void setRetryStatuses(List<Integer> retryStatuses) {
            this.retryStatuses = retryStatuses;
        }

        public Duration getKeyCooldown() {
            return keyCooldown;
        }

        public void setKeyCooldown(Duration keyCooldown) {
            this.keyCooldown = keyCooldown;
        }

        public Duration getRetryDeadline() {
            return retryDeadline;
        }

        public void setRetryDeadline(Duration retryDeadline) {
            this.retryDeadline = retryDeadline;
        }

        public io.github.openaiproxy.core.upstream.NamedUpstream.Kind getKind() {
            return kind;
        }

        public void setKind(io.github.openaiproxy.core.upstream.NamedUpstream.Kind kind) {
            this.kind = kind;
        }

        public String getBaseUrl() {
            return baseUrl;
        }

        public void setBaseUrl(String baseUrl) {
            this.baseUrl = baseUrl;
        }

        public List<String> getKeys() {
            return keys;
        }

        public void setKeys(List<String> keys) {
            this.keys = keys;
        }

        public List<String> getModels() {
            return models;
        }

        public void setModels(List<String> models) {
            this.models = models;
        }

        public List<String> getAliases() {
            return aliases;
        }

        public void setAliases(List<String> aliases) {
            this.aliases = aliases;
        }

        public String getApiVersion() {
            return apiVersion;
        }

        public void setApiVersion(String apiVersion) {
            this.apiVersion = apiVersion;
        }

        public List<String> getFallback() {
            return fallback;
        }

        public void setFallback(List<String> fallback) {
            this.fallback = fallback;
        }

        /** Never shows a key. */
        @Override
        public String toString() {
            return "UpstreamProperties[kind=" + kind + ", baseUrl=" + baseUrl + ", keys="
                    + (keys == null ? 0 : keys.size()) + ", models=" + models + ", aliases=" + aliases + "]";
        }
    }

    /**
     * The usage ledger: one row per request that reached the upstream, written in batches from a bounded queue on
     * a thread of its own.
     */
    public static class Ledger {
        /**
         * Where the ledger is kept: 'none', 'memory' (bounded, lost on restart) or 'jdbc' (the application's
         * DataSource, tables 'openai_proxy_usage' and 'openai_proxy_usage_daily').
         */
        private Store store = Store.NONE;

        /** How long ledger rows and their daily sums are kept ('90d'; a plain number is seconds, as elsewhere). */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration retention = Duration.ofDays(90);

        /** Records that may wait to be written; beyond them records are dropped and counted. */
        private int queueSize = 10_000;

        /** Most records written in one transaction. */
        private int batchSize = 500;

        /** Longest a record waits in the queue before its batch is written. */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration flushInterval = Duration.ofSeconds(1);

        /**
         * Longest a usage summary (admin API, GraphQL) may read the 'jdbc' ledger before it is cancelled (503
         * 'ledger_timeout'); 1s to 1h.
         */
        @DurationUnit(ChronoUnit.SECONDS)
        private Duration queryTimeout = Duration.ofSeconds(30);

        public Store getStore() {
            return store;
        }

        public void setStore(Store store) {
            this.store = store;
        }

        public Duration getRetention() {
            return retention;
        }

        public void setRetention(Duration retention) {
            this.retention = retention;
        }

        public int getQueueSize() {
            return queueSize;
        }

        public void setQueueSize(int queueSize) {
            this.queueSize = queueSize;
        }

        public int getBatchSize() {
            return batchSize;
        }

        public void setBatchSize(int batchSize) {
            this.batchSize = batchSize;
        }

        public Duration getFlushInterval() {
            return flushInterval;
        }

        public void setFlushInterval(Duration flushInterval) {
            this.flushInterval = flushInterval;
        }

        public Duration getQueryTimeout() {
            return queryTimeout;
        }

        public void setQueryTimeout(Duration queryTimeout) {
            this.queryTimeout = queryTimeout;
        }

        /** Where the ledger is kept. */
        public enum Store {
            /** Not kept. */
            NONE,
            /** In memory. */
            MEMORY,
            /** In the application's DataSource. */
            JDBC
        }
    }
}
