package io.github.openaiproxy.core.config;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.DeclaredProxyKeys;
import io.github.openaiproxy.core.cors.CorsConfig;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.S3Config;
import io.github.openaiproxy.core.normalize.ChatDefaults;
import io.github.openaiproxy.core.normalize.ImageDefaults;
import io.github.openaiproxy.core.route.PassThroughRoute;
import io.github.openaiproxy.core.session.SessionConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.PricesConfig;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Reads a {@link ProxyConfig} from flat text settings: servlet init parameters, environment variables,
 * system properties, and the Spring starter's properties. The keys are those of the Spring Boot properties
 * without their {@code openai.proxy.} prefix ({@code api-key}, {@code base-url}, {@code cors.allowed-origins},
 * ...), so there is one vocabulary everywhere; {@link #CATALOG} describes each. Unset keys keep core's
 * defaults; a refused value fails with an {@link InvalidSettingException} naming the key, the value (never
 * the API key) and the reason.
 */
public final class ProxySettings {
    /**
     * Every setting of core: those this class maps onto {@link ProxyConfig}, plus {@code sessions.store} and
     * {@code sessions.retention}, which the code that builds the session store reads
     * ({@link #sessionStore()}, {@link #sessionRetention()}). In the README's order.
     */
    private static final SettingsCatalog BASE = SettingsCatalog.of(
            Setting.of(
                    "api-key",
                    Setting.Type.SECRET,
                    null,
                    "The server's OpenAI API key, sent upstream as Authorization: Bearer."),
            Setting.of(
                    "base-url",
                    Setting.Type.URL,
                    "https://api.openai.com",
                    "The upstream API root, with or without a trailing /v1."),
            Setting.string("organization", null, "The OpenAI organization sent upstream as OpenAI-Organization."),
            Setting.string("project", null, "The OpenAI project sent upstream as OpenAI-Project."),
            Setting.of(
                    "connect-timeout", Setting.Type.DURATION, "10s", "Time to connect to the upstream; over it: 504."),
            Setting.of(
                    "response-timeout",
                    Setting.Type.DURATION,
                    "10m",
                    "Time to the upstream's response headers; over it: 504."),
            Setting.oneOf(
                    "upstream-client", "auto", "The HTTP client that calls the upstream.", "auto", "jetty", "jdk"),
            Setting.oneOf(
                    "upstream-http-version",
                    "auto",
                    "HTTP version to the upstream: auto (the client's own), 1.1, or 2 (many calls on one connection).",
                    "auto",
                    "1.1",
                    "2"),
            Setting.string("path", "/", "Where the proxy is mounted."),
            Setting.of("allowed-hosts", Setting.Type.LIST, null, "The host names the proxy answers to; none: any."),
            Setting.of(
                    "allow-client-key",
                    Setting.Type.BOOLEAN,
                    "false",
                    "Whether a non-empty x-openai-key header replaces the server key."),
            Setting.of(
                    "max-body-size",
                    Setting.Type.SIZE,
                    "10MB",
                    "Largest request body the proxy reads or parses (JSON), and of any other body but an upload; over it: 413."),
            Setting.of(
                    "max-upload-size",
                    Setting.Type.SIZE,
                    "512MB",
                    "Largest upload: a non-JSON body streamed unread on a pass-through route; over it: 413."),
            Setting.of(
                    "max-upload-spool-size",
                    Setting.Type.SIZE,
                    "256MB",
                    "Most bytes all multipart uploads together spool to disk at once while read on for a model that follows their file (named upstreams); past it: routed as naming no model. 0: never spooled."),
            Setting.string(
                    "upload-spool-dir",
                    null,
                    "Directory of those spool files (owner-only, deleted when their call ends); unset: java.io.tmpdir."),
            Setting.of(
                    "max-event-size", Setting.Type.SIZE, "16MB", "Largest single upstream Server-Sent Event relayed."),
            Setting.of(
                    "request-body-timeout",
                    Setting.Type.DURATION,
                    "30m",
                    "How long a request's whole body may take to arrive, beyond what request-body-min-rate adds; over"
                            + " it: 408."),
            Setting.of(
                    "request-body-min-rate",
                    Setting.Type.SIZE,
                    "8KB",
                    "Per second: each such amount of a body received adds a second to request-body-timeout; 0: none."),
            Setting.of(
                    "stream-idle-timeout",
                    Setting.Type.DURATION,
                    "5m",
                    "How long an answer may wait for the upstream's next bytes once its headers are in."),
            Setting.of(
                    "limits.max-concurrent-upstream-calls",
                    Setting.Type.INT,
                    "1000",
                    "Most upstream calls in flight at once; 0: no cap."),
            Setting.of(
                    "limits.max-concurrent-upstream-calls-per-client",
                    Setting.Type.INT,
                    "64",
                    "Most upstream calls in flight at once per client address; 0: no cap."),
            // Prices of the usage ledger and money budgets (issue 12): overrides of the shipped OpenAI prices.
            Setting.of(
                    "limits.prices",
                    Setting.Type.LIST,
                    null,
                    "Model prices replacing the shipped ones, each model=input/cached/output in dollars per million tokens."),
            Setting.of(
                    "limits.image-prices",
                    Setting.Type.LIST,
                    null,
                    "Image prices replacing the shipped ones, each model/quality/size=dollars per image."),
            Setting.string(
                    "limits.default-price",
                    null,
                    "input/cached/output dollars per million tokens for a model without a price, where a policy charges it."),
            Setting.of(
                    "pass-through-routes",
                    Setting.Type.LIST,
                    String.join(
                            ", ",
                            PassThroughRoute.DEFAULTS.stream()
                                    .map(PassThroughRoute::toString)
                                    .toList()),
                    "The OpenAI-compatible routes relayed unchanged, each 'METHOD /v1/path'."),
            Setting.of(
                    "cors.allowed-origins",
                    Setting.Type.LIST,
                    null,
                    "Origins allowed to call the proxy from a browser: exact origins, patterns or *."),
            Setting.of("cors.allowed-origin-patterns", Setting.Type.LIST, null, "Origin patterns only."),
            Setting.of(
                    "cors.allowed-headers",
                    Setting.Type.LIST,
                    String.join(", ", CorsConfig.DEFAULT_ALLOWED_HEADERS),
                    "Request headers a browser may send."),
            Setting.of(
                    "cors.exposed-headers",
                    Setting.Type.LIST,
                    String.join(", ", CorsConfig.DEFAULT_EXPOSED_HEADERS),
                    "Response headers scripts may read."),
            Setting.of(
                    "cors.max-age",
                    Setting.Type.DURATION,
                    CorsConfig.DEFAULT_MAX_AGE.toSeconds() + "s",
                    "How long browsers may cache a preflight answer."),
            Setting.of(
                    "cors.allow-credentials",
                    Setting.Type.BOOLEAN,
                    "false",
                    "Whether browsers may send cookies and HTTP authentication."),
            Setting.string("chat.model", "gpt-3.5-turbo", "Default model of chat bodies on POST /."),
            Setting.of(
                    "chat.temperature", Setting.Type.DECIMAL, "0.7", "Default temperature of chat bodies on POST /."),
            Setting.of("chat.max-tokens", Setting.Type.INT, "1000", "Default max_tokens of chat bodies on POST /."),
            Setting.of("chat.stream", Setting.Type.BOOLEAN, "false", "Whether chat answers stream by default."),
            Setting.string("image.model", "dall-e-3", "Default image model."),
            Setting.of("image.n", Setting.Type.INT, "1", "Default number of images."),
            Setting.string("image.size", "1024x1024", "Default image size."),
            Setting.string("image.quality", "standard", "Default image quality."),
            Setting.string("image.style", "vivid", "Default image style (dall-e-3 only)."),
            Setting.string("image.response-format", "url", "Default response_format (DALL-E only)."),
            Setting.of(
                    "sessions.enabled",
                    Setting.Type.BOOLEAN,
                    "true",
                    "Whether the /sessions routes exist and sessionId is accepted."),
            Setting.of(
                    "sessions.history-as-context",
                    Setting.Type.BOOLEAN,
                    "false",
                    "Whether a chat in a session sends the stored history upstream by default."),
            Setting.of(
                    "sessions.context-messages",
                    Setting.Type.INT,
                    "100",
                    "The most stored messages sent upstream as context."),
            Setting.of("sessions.max-message-size", Setting.Type.SIZE, "1MB", "Most bytes of one stored message."),
            Setting.of("sessions.max-session-size", Setting.Type.SIZE, "16MB", "Most bytes a session holds."),
            Setting.of(
                    "sessions.max-page-size", Setting.Type.SIZE, "1MB", "Most message bytes in one page of history."),
            Setting.of(
                    "sessions.queue-size",
                    Setting.Type.INT,
                    "1000",
                    "Calls of the JDBC store that may wait for the session threads."),
            // auto everywhere: the database when there is one (Spring: the application's DataSource; the
            // standalone server always has one, its H2 file by default), else memory.
            Setting.oneOf(
                    "sessions.store",
                    "auto",
                    "Where sessions are kept: auto (the database when one is configured, else memory), jdbc or memory.",
                    "auto",
                    "jdbc",
                    "memory"),
            Setting.of(
                    "sessions.retention",
                    Setting.Type.DURATION,
                    null,
                    "How long a session is kept after its last message; unset: until deleted (JDBC), 24 hours unused (memory)."),
            // Rate limits and budgets (issue 12): where the policies' quotas are counted.
            Setting.oneOf(
                    "limits.store",
                    "memory",
                    "Where rate limits and budgets are counted: memory (this instance), jdbc (the application's"
                            + " database) or redis (limits.redis-url).",
                    "memory",
                    "jdbc",
                    "redis"),
            // SECRET: a Redis URL may carry a password; no message repeats it.
            Setting.of(
                    "limits.redis-url",
                    Setting.Type.SECRET,
                    null,
                    "The Redis URI of limits.store=redis (redis://, rediss://, redis-sentinel://)."),
            Setting.of(
                    "limits.default-output-tokens",
                    Setting.Type.INT,
                    "4096",
                    "Output tokens reserved for a request without max_tokens when its policy has no max-tokens."),
            Setting.of(
                    "limits.lease-timeout",
                    Setting.Type.DURATION,
                    "10m",
                    "The longest a concurrency lease is held (freed after it when an instance dies holding it)."),
            Setting.of(
                    "limits.store-timeout",
                    Setting.Type.DURATION,
                    "2s",
                    "The longest wait for the limit store's answer; a later one counts as the store being down."),
            Setting.oneOf(
                    "limits.rate-limits-when-down",
                    "allow",
                    "Rate limits while the store is down: allow (counted once it is back) or refuse (503).",
                    "allow",
                    "refuse"),
            Setting.oneOf(
                    "limits.budgets-when-down",
                    "refuse",
                    "Budgets while the store is down: refuse (503) or allow (counted once it is back).",
                    "refuse",
                    "allow"),
            // Image storage (issue 14): generated images kept after the upstream's links expire.
            Setting.oneOf(
                    "images.store",
                    "none",
                    "Where generated images are kept: none (links relayed as they come), filesystem, jdbc or s3.",
                    "none",
                    "filesystem",
                    "jdbc",
                    "s3"),
            Setting.string("images.directory", "./data/images", "The filesystem image store's directory."),
            Setting.of(
                    "images.public-base-url",
                    Setting.Type.URL,
                    null,
                    "The absolute base of the proxy's image links (scheme, host, mount path); unset: relative links."),
            Setting.of(
                    "images.fetch-hosts",
                    Setting.Type.LIST,
                    "oaidalleapiprodscus.blob.core.windows.net",
                    "Hosts (host or host:port) image links may be fetched from, besides the upstream's own."),
            Setting.of(
                    "images.store-b64",
                    Setting.Type.BOOLEAN,
                    "true",
                    "Whether b64_json images are stored too when a session records the generation (the answer keeps"
                            + " b64_json)."),
            Setting.of(
                    "images.private",
                    Setting.Type.BOOLEAN,
                    "true",
                    "Whether an identified caller's images are served to that caller only."),
            Setting.of(
                    "images.retention",
                    Setting.Type.DURATION,
                    null,
                    "How long an image is kept; unset: until deleted."),
            Setting.of(
                    "images.max-size",
                    Setting.Type.SIZE,
                    null,
                    "Most bytes of one stored image; unset: max-body-size."),
            Setting.of("images.fetch-timeout", Setting.Type.DURATION, "30s", "Time to fetch one upstream image link."),
            // The S3 image store (images.store=s3); credentials from the AWS SDK's default chain.
            Setting.string("images.s3.bucket", null, "The S3 image store's bucket (required with images.store=s3)."),
            Setting.string(
                    "images.s3.region",
                    null,
                    "The bucket's region; unset: the AWS SDK's region chain, or us-east-1 with an endpoint."),
            Setting.of(
                    "images.s3.endpoint",
                    Setting.Type.URL,
                    null,
                    "An S3-compatible service's endpoint (MinIO, R2, ...); unset: AWS S3."),
            Setting.of(
                    "images.s3.path-style",
                    Setting.Type.BOOLEAN,
                    "false",
                    "Whether the bucket is addressed in the path (most self-hosted services need it)."),
            Setting.string("images.s3.prefix", null, "The start of every image's object key, such as images/."),
            Setting.of(
                    "images.s3.presign",
                    Setting.Type.DURATION,
                    null,
                    "When set, image GETs redirect (302) to a presigned link valid this long; unset: bytes served."),
            // Who may call: the identity sources (access.*).
            Setting.oneOf(
                    "access.anonymous",
                    "allow",
                    "What callers without a credential may do: allow (policy 'anonymous') or deny (401).",
                    "allow",
                    "deny"),
            Setting.of(
                    "access.trusted-proxies",
                    Setting.Type.LIST,
                    null,
                    "Proxies (CIDR ranges or addresses) whose forwarding header is believed; none: the peer."),
            Setting.oneOf(
                    "access.forwarded-header",
                    "x-forwarded-for",
                    "The header the trusted proxies write the client's address in (only it is read): x-forwarded-for"
                            + " or forwarded (RFC 7239).",
                    "x-forwarded-for",
                    "forwarded"),
            Setting.string("access.jwt.issuer", null, "The OpenID Connect issuer whose bearer JWTs identify users."),
            Setting.string("access.jwt.audience", null, "The audience every accepted JWT must include."),
            Setting.of("access.jwt.jwks-url", Setting.Type.URL, null, "Where the issuer publishes its signing keys."),
            // Keys declared in configuration, and the admin API (issue 11).
            // SECRET_LIST: a key pasted where its hash belongs must never be repeated in a message.
            Setting.of(
                    "access.keys",
                    Setting.Type.SECRET_LIST,
                    null,
                    "Proxy keys declared as hashes, each <sha256-hex>:<policy>:<name>; 'keys hash' prints one."),
            Setting.of("admin.enabled", Setting.Type.BOOLEAN, "false", "Whether the admin API is served."),
            Setting.string("admin.path", "/admin", "Where the admin API is served, under the proxy's path."),
            // SECRET, though it holds hashes: a token pasted here by mistake must never be repeated in a message.
            Setting.of(
                    "admin.tokens",
                    Setting.Type.SECRET,
                    null,
                    "SHA-256 hashes (hex) of the admin tokens, sent as Authorization: Bearer <token>."),
            Setting.string("admin.role", null, "The host application's role whose users may use the admin API."),
            // The usage ledger (issue 12): one row per request that reached the upstream.
            Setting.oneOf(
                    "ledger.store",
                    "none",
                    "Where the usage ledger is kept: none, memory or jdbc (the sessions' database).",
                    "none",
                    "memory",
                    "jdbc"),
            Setting.of(
                    "ledger.retention", Setting.Type.DURATION, "90d", "How long ledger rows and daily sums are kept."),
            Setting.of(
                    "ledger.queue-size",
                    Setting.Type.INT,
                    "10000",
                    "Ledger records that may wait to be written; beyond them records are dropped and counted."),
            Setting.of("ledger.batch-size", Setting.Type.INT, "500", "Most ledger records written in one transaction."),
            Setting.of(
                    "ledger.flush-interval",
                    Setting.Type.DURATION,
                    "1s",
                    "Longest a ledger record waits before its batch is written."),
            Setting.of(
                    "ledger.query-timeout",
                    Setting.Type.DURATION,
                    "30s",
                    "Longest a usage summary (admin API, GraphQL) may read the jdbc ledger before it is cancelled"
                            + " (503 ledger_timeout); 1s to 1h."),
            Setting.oneOf(
                    "tracing.client-context",
                    "ignore",
                    "A client's trace context (traceparent): ignore (the proxy's sampler decides alone) or continue"
                            + " (its trace, and its sampled flag, are followed).",
                    "ignore",
                    "continue"));

    /**
     * Every setting of core, in the README's order: those above, then the policies' ({@code access.role-policies}
     * and the templated {@code policies.<name>.<rule>}, see {@code PolicySettings}), then the named upstreams'
     * ({@code upstreams.<name>.<setting>}, see {@code UpstreamSettings}).
     */
    public static final SettingsCatalog CATALOG = SettingsCatalog.concat(
            BASE, SettingsCatalog.of(PolicySettings.SETTINGS), SettingsCatalog.of(UpstreamSettings.SETTINGS));

    /** Every key of {@link #CATALOG}. */
    public static final List<String> KEYS = CATALOG.keys();

    private final SettingsBinder binder;

    private ProxySettings(SettingsBinder binder) {
        this.binder = binder;
    }

    /** Settings from a key lookup; {@code null} or blank means unset. */
    public static ProxySettings from(Function<String, String> lookup) {
        return new ProxySettings(SettingsBinder.fromText(CATALOG, lookup));
    }

    /** Settings from a map of keys; a blank value means unset. */
    public static ProxySettings from(Map<String, String> settings) {
        return new ProxySettings(SettingsBinder.fromText(CATALOG, settings::get, settings::keySet));
    }

    /**
     * Settings from a key lookup that can also list the keys it sets (servlet init parameters), so that
     * {@code policies.<name>.*} keys are found; {@code null} or blank means unset.
     */
    public static ProxySettings from(
            Function<String, String> lookup, java.util.function.Supplier<? extends java.util.Collection<String>> keys) {
        return new ProxySettings(SettingsBinder.fromText(CATALOG, lookup, keys));
    }

    /**
     * Settings read through a binder over {@link #CATALOG} (or a catalog that contains it), for sources with
     * their own rules on blank values, such as the Spring starter's properties.
     */
    public static ProxySettings from(SettingsBinder binder) {
        return new ProxySettings(binder);
    }

    /**
     * Settings from environment variables: {@code OPENAI_API_KEY}, {@code OPENAI_BASE_URL},
     * {@code OPENAI_ORG_ID}, {@code OPENAI_PROJECT_ID} (the names the OpenAI SDKs read), and
     * {@code OPENAI_PROXY_<KEY>} for every other key, for example {@code OPENAI_PROXY_ALLOWED_ORIGINS},
     * {@code OPENAI_PROXY_ALLOW_CLIENT_KEY}, {@code OPENAI_PROXY_CHAT_MODEL},
     * {@code OPENAI_PROXY_CORS_MAX_AGE}.
     */
    public static ProxySettings fromEnvironment(Map<String, String> env) {
        return new ProxySettings(SettingsBinder.fromEnvironment(CATALOG, env));
    }

    /** The environment variable that carries a key (see {@link Setting#environmentName(String)}). */
    public static String environmentName(String key) {
        return Setting.environmentName(key);
    }

    /** {@code sessions.store}: {@code auto}, {@code jdbc} or {@code memory}. */
    public String sessionStore() {
        return binder.value("sessions.store");
    }

    /** {@code sessions.retention}, positive; {@code null} when unset. */
    public Duration sessionRetention() {
        Duration d = binder.value("sessions.retention");
        if (d != null && (d.isNegative() || d.isZero())) {
            throw binder.invalid("sessions.retention", "must be positive");
        }
        return d;
    }

    /**
     * Applies the settings onto a builder (unset keys leave it unchanged). Each value is checked as soon as it
     * is set, so the key named in an error is the one that made the configuration invalid (for example
     * {@code cors.allow-credentials} after {@code *} origins).
     */
    public ProxyConfig.Builder applyTo(ProxyConfig.Builder b) {
        ProxyConfig base = b.build();
        set(b, "api-key", ProxyConfig.Builder::apiKey);
        set(b, "path", ProxyConfig.Builder::path);
        set(b, "allow-client-key", ProxyConfig.Builder::allowClientKey);
        set(b, "max-body-size", ProxyConfig.Builder::maxBodySize);
        set(b, "max-upload-size", ProxyConfig.Builder::maxUploadSize);
        set(b, "max-upload-spool-size", ProxyConfig.Builder::maxUploadSpoolSize);
        this.<String>set(
                b,
                "upload-spool-dir",
                (c, v) -> c.uploadSpoolDir(v.isBlank() ? null : java.nio.file.Path.of(v.strip())));
        this.<Long>set(b, "max-event-size", (c, v) -> c.maxEventSize(Math.toIntExact(v)));
        set(b, "request-body-timeout", ProxyConfig.Builder::requestBodyTimeout);
        set(b, "request-body-min-rate", ProxyConfig.Builder::requestBodyMinRate);
        set(b, "allowed-hosts", ProxyConfig.Builder::allowedHosts);
        applyPrices(b);
        this.<List<String>>set(
                b,
                "pass-through-routes",
                (c, v) -> c.passThroughRoutes(
                        v.stream().map(PassThroughRoute::parse).toList()));

        UpstreamConfig up = base.upstream();
        up = binder.with(up, "base-url", (UpstreamConfig u, String v) -> u.withBaseUrl(UpstreamConfig.parseBaseUrl(v)));
        up = binder.with(up, "organization", UpstreamConfig::withOrganization);
        up = binder.with(up, "project", UpstreamConfig::withProject);
        up = binder.with(up, "connect-timeout", UpstreamConfig::withConnectTimeout);
        up = binder.with(up, "response-timeout", UpstreamConfig::withResponseTimeout);
        up = binder.with(
                up,
                "upstream-client",
                (UpstreamConfig u, String v) -> u.withClient(UpstreamConfig.ClientKind.parse(v)));
        up = binder.with(up, "stream-idle-timeout", UpstreamConfig::withStreamIdleTimeout);
        up = binder.with(
                up,
                "upstream-http-version",
                (UpstreamConfig u, String v) -> u.withHttpVersion(UpstreamConfig.HttpVersion.parse(v)));
        b.upstream(up);

        // Concurrency caps on upstream calls: 0 means none.
        set(b, "limits.max-concurrent-upstream-calls", ProxyConfig.Builder::maxConcurrentUpstreamCalls);
        set(
                b,
                "limits.max-concurrent-upstream-calls-per-client",
                ProxyConfig.Builder::maxConcurrentUpstreamCallsPerClient);

        CorsConfig.Builder cors = base.cors().toBuilder();
        // One list may mix exact origins and patterns; the builder sorts them. The patterns found there and
        // those of cors.allowed-origin-patterns add up (as they always did in Spring).
        List<String> patterns = new ArrayList<>();
        this.<List<String>>corsStep(cors, "cors.allowed-origins", (c, v) -> {
            CorsConfig sorted = CorsConfig.builder().origins(v).build();
            c.allowedOrigins(sorted.allowedOrigins());
            patterns.addAll(sorted.allowedOriginPatterns());
            if (!patterns.isEmpty()) {
                c.allowedOriginPatterns(patterns);
            }
        });
        this.<List<String>>corsStep(cors, "cors.allowed-origin-patterns", (c, v) -> {
            patterns.addAll(v);
            c.allowedOriginPatterns(patterns);
        });
        corsStep(cors, "cors.allowed-headers", CorsConfig.Builder::allowedHeaders);
        corsStep(cors, "cors.exposed-headers", CorsConfig.Builder::exposedHeaders);
        corsStep(cors, "cors.max-age", CorsConfig.Builder::maxAge);
        corsStep(cors, "cors.allow-credentials", CorsConfig.Builder::allowCredentials);
        b.cors(cors.build());

        ChatDefaults chat = base.chatDefaults();
        chat = binder.with(chat, "chat.model", ChatDefaults::withModel);
        chat = binder.with(chat, "chat.temperature", ChatDefaults::withTemperature);
        chat = binder.with(chat, "chat.max-tokens", ChatDefaults::withMaxTokens);
        chat = binder.with(chat, "chat.stream", ChatDefaults::withStream);
        b.chatDefaults(chat);

        ImageDefaults image = base.imageDefaults();
        image = binder.with(image, "image.model", ImageDefaults::withModel);
        image = binder.with(image, "image.n", ImageDefaults::withN);
        image = binder.with(image, "image.size", ImageDefaults::withSize);
        image = binder.with(image, "image.quality", ImageDefaults::withQuality);
        image = binder.with(image, "image.style", ImageDefaults::withStyle);
        image = binder.with(image, "image.response-format", ImageDefaults::withResponseFormat);
        b.imageDefaults(image);

        SessionConfig sessions = base.sessions();
        sessions = binder.with(sessions, "sessions.enabled", SessionConfig::withEnabled);
        sessions = binder.with(sessions, "sessions.history-as-context", SessionConfig::withHistoryAsContext);
        sessions = binder.with(sessions, "sessions.context-messages", SessionConfig::withContextMessages);
        sessions = binder.with(
                sessions,
                "sessions.max-message-size",
                (SessionConfig c, Long v) -> c.withMaxMessageSize(Math.toIntExact(v)));
        sessions = binder.with(sessions, "sessions.max-session-size", SessionConfig::withMaxSessionSize);
        sessions = binder.with(
                sessions, "sessions.max-page-size", (SessionConfig c, Long v) -> c.withMaxPageSize(Math.toIntExact(v)));
        sessions = binder.with(sessions, "sessions.queue-size", SessionConfig::withQueueSize);
        b.sessions(sessions);

        ImageConfig images = base.images();
        images = binder.with(
                images, "images.store", (ImageConfig c, String v) -> c.withStore(ImageConfig.Store.parse(v)));
        images = binder.with(images, "images.directory", (ImageConfig c, String v) -> c.withDirectory(Path.of(v)));
        images = binder.with(
                images, "images.public-base-url", (ImageConfig c, String v) -> c.withPublicBaseUrl(URI.create(v)));
        images = binder.with(images, "images.fetch-hosts", ImageConfig::withFetchHosts);
        images = binder.with(images, "images.store-b64", ImageConfig::withStoreB64);
        images = binder.with(images, "images.private", ImageConfig::withPrivateImages);
        images = binder.with(images, "images.retention", ImageConfig::withRetention);
        images = binder.with(images, "images.max-size", (ImageConfig c, Long v) -> c.withMaxSize(v));
        images = binder.with(images, "images.fetch-timeout", ImageConfig::withFetchTimeout);
        S3Config s3 = images.s3();
        s3 = binder.with(s3, "images.s3.bucket", S3Config::withBucket);
        s3 = binder.with(s3, "images.s3.region", S3Config::withRegion);
        s3 = binder.with(s3, "images.s3.endpoint", (S3Config c, String v) -> c.withEndpoint(URI.create(v)));
        s3 = binder.with(s3, "images.s3.path-style", S3Config::withPathStyle);
        s3 = binder.with(s3, "images.s3.prefix", S3Config::withPrefix);
        s3 = binder.with(s3, "images.s3.presign", S3Config::withPresign);
        images = images.withS3(s3);
        b.images(images);

        // The usage ledger.
        LedgerConfig ledger = base.ledger();
        ledger = binder.with(
                ledger, "ledger.store", (LedgerConfig c, String v) -> c.withStore(LedgerConfig.Store.parse(v)));
        ledger = binder.with(ledger, "ledger.retention", LedgerConfig::withRetention);
        ledger = binder.with(ledger, "ledger.queue-size", LedgerConfig::withQueueSize);
        ledger = binder.with(ledger, "ledger.batch-size", LedgerConfig::withBatchSize);
        ledger = binder.with(ledger, "ledger.flush-interval", LedgerConfig::withFlushInterval);
        ledger = binder.with(ledger, "ledger.query-timeout", LedgerConfig::withQueryTimeout);
        b.ledger(ledger);
        this.<String>set(
                b,
                "tracing.client-context",
                (c, v) -> c.clientTraceContext(io.github.openaiproxy.core.observe.ClientTraceContext.parse(v)));
        io.github.openaiproxy.core.limits.LimitsConfig limits = base.limits();
        limits = binder.with(
                limits,
                "limits.store",
                (io.github.openaiproxy.core.limits.LimitsConfig c, String v) ->
                        c.withStore(io.github.openaiproxy.core.limits.LimitsConfig.Store.parse(v)));
        limits = binder.with(limits, "limits.redis-url", io.github.openaiproxy.core.limits.LimitsConfig::withRedisUrl);
        limits = binder.with(
                limits,
                "limits.default-output-tokens",
                io.github.openaiproxy.core.limits.LimitsConfig::withDefaultOutputTokens);
        limits = binder.with(
                limits, "limits.lease-timeout", io.github.openaiproxy.core.limits.LimitsConfig::withLeaseTimeout);
        limits = binder.with(
                limits, "limits.store-timeout", io.github.openaiproxy.core.limits.LimitsConfig::withStoreTimeout);
        limits = binder.with(
                limits,
                "limits.rate-limits-when-down",
                (io.github.openaiproxy.core.limits.LimitsConfig c, String v) ->
                        c.withRateLimitsWhenDown(io.github.openaiproxy.core.limits.LimitsConfig.WhenDown.parse(v)));
        limits = binder.with(
                limits,
                "limits.budgets-when-down",
                (io.github.openaiproxy.core.limits.LimitsConfig c, String v) ->
                        c.withBudgetsWhenDown(io.github.openaiproxy.core.limits.LimitsConfig.WhenDown.parse(v)));
        b.limits(limits);

        // Keys declared in configuration, and the admin API.
        AccessConfig access = base.access();
        access = binder.with(
                access,
                "access.keys",
                (AccessConfig a, List<String> v) -> a.withDeclaredKeys(DeclaredProxyKeys.parse(v)));
        AccessConfig.Admin admin = access.admin();
        admin = binder.with(admin, "admin.enabled", AccessConfig.Admin::withEnabled);
        admin = binder.with(admin, "admin.path", AccessConfig.Admin::withPath);
        admin = binder.with(
                admin,
                "admin.tokens",
                (AccessConfig.Admin a, String v) -> a.withTokenHashes(java.util.Arrays.stream(v.split(","))
                        .map(String::strip)
                        .filter(h -> !h.isEmpty())
                        .toList()));
        admin = binder.with(admin, "admin.role", AccessConfig.Admin::withRole);
        // Policies and the roles mapped to them.
        b.access(PolicySettings.apply(binder, access.withAdmin(admin)));
        // Named upstreams; none configured leaves the single upstream above alone.
        io.github.openaiproxy.core.upstream.Upstreams upstreams = UpstreamSettings.apply(binder);
        if (!upstreams.isEmpty()) {
            b.upstreams(upstreams);
        }
        applyIdentity(b);
        return b;
    }

    /** {@code limits.prices}, {@code limits.image-prices} and {@code limits.default-price}. */
    private void applyPrices(ProxyConfig.Builder b) {
        this.<List<String>>set(
                b,
                "limits.prices",
                (c, v) -> c.prices(c.build().prices().withModels(PricesConfig.parseModelPrices(v))));
        this.<List<String>>set(
                b,
                "limits.image-prices",
                (c, v) -> c.prices(c.build().prices().withImages(PricesConfig.parseImagePrices(v))));
        this.<String>set(
                b,
                "limits.default-price",
                (c, v) -> c.prices(c.build().prices().withDefaultPrice(PricesConfig.parseModelPrice(v))));
    }

    /** {@code access.anonymous}, {@code access.trusted-proxies} and {@code access.jwt.*}. */
    private void applyIdentity(ProxyConfig.Builder b) {
        this.<String>set(
                b,
                "access.anonymous",
                (c, v) -> c.access(c.build()
                        .access()
                        .withAnonymous(AccessConfig.Anonymous.valueOf(v.toUpperCase(java.util.Locale.ROOT)))));
        this.<List<String>>set(
                b,
                "access.trusted-proxies",
                (c, v) -> c.access(c.build().access().withTrustedProxies(v)));
        this.<String>set(
                b,
                "access.forwarded-header",
                (c, v) -> c.access(c.build()
                        .access()
                        .withForwardedHeader(AccessConfig.ForwardedHeader.valueOf(
                                v.toUpperCase(java.util.Locale.ROOT).replace('-', '_')))));
        List<String> jwtKeys = List.of("access.jwt.issuer", "access.jwt.audience", "access.jwt.jwks-url");
        List<String> values = jwtKeys.stream().map(k -> binder.<String>value(k)).toList();
        if (values.stream().anyMatch(java.util.Objects::nonNull)) {
            for (int i = 0; i < jwtKeys.size(); i++) {
                if (values.get(i) == null || values.get(i).isBlank()) {
                    String setOne = jwtKeys.get(values.indexOf(values.stream()
                            .filter(java.util.Objects::nonNull)
                            .findFirst()
                            .orElseThrow()));
                    throw binder.invalid(setOne, jwtKeys.get(i) + " must be set too");
                }
            }
            // The URL is the value core checks; naming it in an error names the setting most likely wrong.
            this.<String>set(
                    b,
                    "access.jwt.jwks-url",
                    (c, v) -> c.access(
                            c.build().access().withJwt(new AccessConfig.Jwt(values.get(0), values.get(1), v))));
        }
    }

    /** Sets a value and builds once, so that core's checks run now and name this key. */
    private <V> void set(ProxyConfig.Builder b, String key, BiConsumer<ProxyConfig.Builder, V> setter) {
        binder.ifSet(key, (V v) -> {
            setter.accept(b, v);
            b.build();
        });
    }

    private <V> void corsStep(CorsConfig.Builder b, String key, BiConsumer<CorsConfig.Builder, V> setter) {
        binder.ifSet(key, (V v) -> {
            setter.accept(b, v);
            b.build();
        });
    }

    /** A configuration from core's defaults plus these settings. */
    public ProxyConfig toConfig() {
        return applyTo(ProxyConfig.builder()).build();
    }

    /**
     * Parses {@code true/yes/on/1} or {@code false/no/off/0}; a message naming {@code key} otherwise. Prefer a
     * {@link SettingsBinder} over a catalog.
     */
    public static boolean parseBoolean(String key, String v) {
        return one(key, Setting.Type.BOOLEAN, v);
    }

    /** Parses a whole number; a message naming {@code key} otherwise. */
    public static int integer(String key, String v) {
        return one(key, Setting.Type.INT, v);
    }

    /**
     * Parses {@code 30s}, {@code 500ms}, {@code 10m}, {@code 1h}, {@code 30d}, ISO-8601 ({@code PT30S}) or
     * plain seconds.
     */
    public static Duration duration(String key, String v) {
        return one(key, Setting.Type.DURATION, v);
    }

    /** Parses {@code 10MB}, {@code 512KB}, {@code 10MiB} (binary units, as Spring's DataSize) or plain bytes. */
    public static long parseSize(String key, String v) {
        return one(key, Setting.Type.SIZE, v);
    }

    /** One value parsed as a setting of {@code type} would be (errors name {@code key}). */
    private static <V> V one(String key, Setting.Type type, String v) {
        SettingsCatalog single = SettingsCatalog.of(Setting.of(key, type, null, key));
        V value = SettingsBinder.of(single, k -> v).value(key);
        if (value == null) {
            throw SettingsBinder.of(single, k -> v).invalid(key, "must be set");
        }
        return value;
    }
}
