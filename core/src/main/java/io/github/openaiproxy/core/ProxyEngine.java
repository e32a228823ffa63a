package io.github.openaiproxy.core;

import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.IdentityResolver;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.LayeredProxyKeyStore;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.admin.AdminRoutes;
import io.github.openaiproxy.core.admin.AdminService;
import io.github.openaiproxy.core.cors.CorsPolicy;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.images.Images;
import io.github.openaiproxy.core.images.S3Images;
import io.github.openaiproxy.core.internal.DaemonThreads;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.keys.KeyResolver;
import io.github.openaiproxy.core.normalize.ChatRequestNormalizer;
import io.github.openaiproxy.core.normalize.ImageRequestNormalizer;
import io.github.openaiproxy.core.observe.CompositeProxyObserver;
import io.github.openaiproxy.core.observe.GuardedObservation;
import io.github.openaiproxy.core.observe.ObservedResponses;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.relay.ResponseFactory;
import io.github.openaiproxy.core.relay.ResponseRelay;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteTable;
import io.github.openaiproxy.core.session.ChatSessions;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;

/**
 * The proxy: takes a {@link ProxyRequest}, answers a {@link ProxyResponse}. Thread-safe and
 * non-blocking: {@link #handle} returns at once and completes when the response headers are known.
 * Several engines with different configurations can live in one JVM.
 *
 * <p>Each request runs the steps of a {@link RequestPipeline}, in the order that class lists: host, CORS
 * (preflight or origin check), method (405), content type (415), body size (413), body validation and
 * normalization (400), key (403/500), session (404, see {@link ChatSessions}), upstream call (502/504 when
 * it fails), relay of the answer. A host application adds its own steps with {@link Builder#step}.
 */
public final class ProxyEngine implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());
    private final ProxyConfig config;
    private final UpstreamClient upstream;
    private final boolean ownsUpstream;
    private final ProxyObserver observer;
    private final RouteTable routes;
    private final ResponseRelay relay;
    private final UpstreamPermits permits;
    private final RequestPipeline pipeline;
    /** The named upstreams' routing step, for {@link #upstreamStates()}; {@code null} without any. */
    private final RouteUpstream routeUpstream;
    /**
     * The clients of named upstreams with their own timeouts or HTTP version, made from {@link #upstream} (shared by
     * upstreams with the same settings); closed with the engine.
     */
    private final Map<String, UpstreamClient> upstreamClients;

    private final SessionStore sessionStore;
    private final boolean ownsSessionStore;
    private final ExecutorService sessionThreads;
    /** The chat sessions, whose store calls under way close() waits for before the store closes. */
    private final ChatSessions sessions;
    /** The keys requests are looked up in: those declared in configuration over the builder's store. */
    private final ProxyKeyStore proxyKeys;
    /** The policies managed through the admin API (the configured ones are in the configuration). */
    private final PolicyStore policyStore;
    /** Runs the admin API's store calls when it is on, else {@code null}. */
    private final ExecutorService adminThreads;

    private final PolicyLookup policies;
    private final ExecutorService accessThreads;
    /** Stored images, or {@code null} when {@code images.store} is none; with the threads their calls run on. */
    private final Images images;

    private final ExecutorService imageThreads;
    /** The image store this engine made and closes (the S3 store's client); {@code null} otherwise. */
    private final AutoCloseable ownedImageStore;
    /** The image store in use, {@code null} for none: {@link #probeStores} checks an S3 one. */
    private final ImageStore imageStore;
    /** Where usage records go ({@link UsageLedger#NONE} when {@code ledger.store} is none); closed with the engine. */
    private final io.github.openaiproxy.core.usage.UsageLedger usageLedger;

    // Rate limits, budgets and the usage ledger.
    private final io.github.openaiproxy.core.limits.LimitStore limitStore;
    private final boolean ownsLimitStore;
    private final LimitStep limitStep;
    /** The last step, which answers 503 instead of calling the upstream once close() began. */
    private final SendUpstream sendUpstream;
    /** Where uploads read on for their model are spooled; {@code null} without named upstreams. */
    private final UploadSpool uploadSpool;

    /** The requests under way, ended by close() before the ledger and the limit store close. */
    private final OpenRequests openRequests = new OpenRequests();
    /**
     * Whether requests are tracked for close(): only when a ledger records them or a limit store outlives this
     * engine (Redis, a database), where a stream's lease or settlement would otherwise be lost. Without either
     * there is nothing to settle, and the request path pays nothing for it.
     */
    private final boolean tracksOpenRequests;

    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    /** Builds an engine; when the build is refused, closes what it made so far (see {@link BuildResources}). */
    private static ProxyEngine build(Builder b) {
        BuildResources made = new BuildResources();
        try {
            return new ProxyEngine(b, made);
        } catch (RuntimeException | Error e) {
            made.closeAfter(e);
            throw e;
        }
    }

    /** @param made every resource this constructor makes is added to it, to be closed if it throws later on */
    private ProxyEngine(Builder b, BuildResources made) {
        this.config = b.config;
        RouteTable.of(config.passThroughRoutes(), b.routes); // may refuse: before any resource
        // The settings that need what the builder lacks are refused first (ledger.store=jdbc, limits.store=jdbc or
        // redis without its URL): nothing else is made by then. What is made later is closed if the build fails.
        this.usageLedger = usageLedger(config, b.usageLedger, b.clock); // the admin API sums its rows
        if (b.usageLedger == null) {
            made.add(usageLedger, usageLedger::close);
        }
        this.ownsLimitStore = b.limitStore == null;
        this.limitStore = b.limitStore != null
                ? b.limitStore
                : io.github.openaiproxy.core.limits.LimitStores.create(config.limits(), null);
        if (ownsLimitStore) {
            made.add(limitStore, limitStore::close);
        }
        this.ownsSessionStore = b.sessionStore == null;
        this.sessionStore = b.sessionStore == null ? SessionStore.inMemory() : b.sessionStore;
        if (ownsSessionStore) {
            made.add(sessionStore, sessionStore::close);
        }
        this.sessionThreads = sessionStore.blocking() && b.sessionExecutor == null
                ? shutDownOnFailure(
                        made, boundedSessionThreads(config.sessions().queueSize()))
                : null;
        ImageStore imageStore = imageStore(config, b.imageStore); // the admin API deletes images too
        this.imageStore = imageStore;
        // A store the engine made (S3's client) is the engine's to close.
        this.ownedImageStore = b.imageStore == null && imageStore instanceof AutoCloseable c ? made.add(c, c) : null;
        this.imageThreads =
                imageStore != null ? shutDownOnFailure(made, boundedThreads("openai-proxy-images-", 4, 1000)) : null;
        // One client's store calls take at most its share of a pool's queue (see PerClientChecks).
        int perClient = config.maxConcurrentUpstreamCallsPerClient();
        this.images = imageStore == null
                ? null
                : new Images(
                        imageStore,
                        config.images(),
                        config.maxBodySize(),
                        config.upstream().baseUrl(),
                        config.path(),
                        new PerClientChecks(imageThreads, perClient),
                        b.clock);
        // Deleting a session deletes the stored images its messages refer to.
        ChatSessions sessions = this.sessions = new ChatSessions(
                sessionStore,
                config.sessions(),
                b.sessionExecutor != null
                        ? b.sessionExecutor
                        : sessionThreads == null ? null : new PerClientChecks(sessionThreads, perClient),
                images);
        List<CustomRoute> all = new ArrayList<>(sessions.routes());
        // Keys, policies and the admin API (off by default: then its paths are unknown, 404).
        // The identify step finds declared keys itself, then asks the stored ones; the admin API sees both.
        ProxyKeyStore storedKeys = b.proxyKeys != null ? b.proxyKeys : new InMemoryProxyKeyStore();
        this.proxyKeys = LayeredProxyKeyStore.of(config.access().declaredKeys(), storedKeys);
        // Who may call: an in-memory key store answers at once; a database or a JWKS fetch gets threads of its own.
        boolean blockingKeys = !(storedKeys instanceof InMemoryProxyKeyStore);
        this.accessThreads = blockingKeys || IdentityResolver.needsJwtExecutor(config.access())
                ? shutDownOnFailure(made, boundedThreads("openai-proxy-access-", 4, 1000))
                : null;
        Executor direct = Runnable::run;
        // One client's checks take at most its share of the access threads' queue (see PerClientChecks).
        Executor checks = accessThreads == null ? direct : new PerClientChecks(accessThreads, perClient);
        IdentityResolver identities = new IdentityResolver(
                config.access(),
                storedKeys,
                blockingKeys ? checks : direct,
                checks,
                b.clock,
                b.identitySources,
                config.cors().allowCredentials());
        LOG.log(System.Logger.Level.INFO, identities.description());
        this.policyStore = b.policyStore != null ? b.policyStore : new InMemoryPolicyStore();
        this.adminThreads = config.access().admin().enabled() ? shutDownOnFailure(made, adminThreads()) : null;
        if (adminThreads != null) {
            if (config.access().admin().tokenHashes().isEmpty()
                    && config.access().admin().role() == null) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "admin.enabled without admin.tokens or admin.role: every admin call is refused (401)");
            }
            AdminService admin = new AdminService(
                    config.access(),
                    // A key the admin API changes leaves this instance's key cache at once.
                    identities.forgettingChangedKeys(proxyKeys),
                    policyStore,
                    b.auditLog != null ? b.auditLog : AuditLog.inMemory(),
                    b.clock,
                    imageStore,
                    usageLedger instanceof io.github.openaiproxy.core.usage.ledger.UsageQueries q ? q : null);
            all.addAll(AdminRoutes.create(config.access().admin(), admin, adminThreads));
        }
        if (images != null) {
            all.addAll(images.routes());
        }
        all.addAll(b.routes);
        this.routes = RouteTable.of(config.passThroughRoutes(), all);
        this.observer = CompositeProxyObserver.of(b.observers);
        this.relay = new ResponseRelay(config.maxEventSize(), config.upstream().streamIdleTimeout());
        made.add(relay, relay);
        this.permits =
                new UpstreamPermits(config.maxConcurrentUpstreamCalls(), config.maxConcurrentUpstreamCallsPerClient());
        CorsPolicy cors = new CorsPolicy(config.cors());
        long limit = config.maxBodySize();
        BodyLimits bodyLimits = BodyLimits.of(config);
        this.policies = new PolicyLookup(config.access().policies(), policyStore);
        made.add(policies, policies::close);
        java.util.SortedSet<String> unreferenced = PolicyLookup.unreferenced(config.access());
        if (!unreferenced.isEmpty()) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "policies {0} are configured but no role, declared key or default policy names them (keys in a"
                            + " store may): a misspelt name leaves the intended policy unrestricted",
                    unreferenced);
        }
        UpstreamRequests defaultRequests = new UpstreamRequests(config.upstream());
        // Named upstreams only: without them no routing step runs and the call is today's.
        this.uploadSpool = config.upstreams().isEmpty()
                ? null
                : new UploadSpool(
                        config.uploadSpoolDir()
                                .orElseGet(() -> java.nio.file.Path.of(System.getProperty("java.io.tmpdir"))),
                        config.maxUploadSpoolSize());
        RouteUpstream routeUpstream = config.upstreams().isEmpty()
                ? null
                : new RouteUpstream(config.upstreams(), limit, b.nanoTime, uploadSpool, bodyLimits.upload());
        this.routeUpstream = routeUpstream;
        // The upstream client last of what may refuse: its threads run until close().
        this.ownsUpstream = b.upstream == null;
        this.upstream = b.upstream == null ? UpstreamClient.create(config.upstream()) : b.upstream;
        if (ownsUpstream) {
            made.add(upstream, upstream::close);
        }
        this.upstreamClients = ownClients(config, upstream);
        for (UpstreamClient c : distinct(upstreamClients.values())) {
            if (c != upstream) {
                made.add(c, c::close);
            }
        }
        this.tracksOpenRequests = usageLedger != io.github.openaiproxy.core.usage.UsageLedger.NONE
                || !(limitStore instanceof io.github.openaiproxy.core.limits.MemoryLimitStore);
        this.limitStep = new LimitStep(
                limitStore,
                config.limits(),
                usageLedger,
                io.github.openaiproxy.core.usage.TokenCounter.standard(),
                io.github.openaiproxy.core.usage.PriceTable.from(config.prices()),
                b.usageTap,
                limit,
                config.upstream().acceptsStreamOptions(),
                b.clock);
        if (countsTokensFromStart(
                config.access().policies().values(),
                usageLedger != io.github.openaiproxy.core.usage.UsageLedger.NONE)) {
            // Policies managed through the admin API may add token limits later; their first count loads it then.
            io.github.openaiproxy.core.usage.TokenCounter.standard().loadInBackground();
        }
        this.pipeline = new RequestPipeline(
                routes,
                new RequestPipeline.Parts(
                        new RequestChecks.AllowedHost(config.allowedHosts()),
                        new RequestChecks.Cors(cors),
                        new RequestChecks.Preflight(cors),
                        new RequestChecks.ContentLength(bodyLimits),
                        new IdentifyStep(identities),
                        new AuthorizeStep(policies, routes, limit),
                        new RouteHandlers.ReadBody(limit),
                        new RouteHandlers.Simple(
                                new ChatRequestNormalizer(config.chatDefaults()),
                                new ImageRequestNormalizer(config.imageDefaults()),
                                sessions),
                        new RouteHandlers.PassThrough(bodyLimits),
                        new RouteHandlers.ResolveKey(new KeyResolver(config.keys())),
                        new RouteHandlers.Sessions(sessions, limit),
                        new RouteHandlers.Custom(this::handleSubRequest),
                        images == null ? null : new RouteHandlers.StoreImages(images),
                        this.sendUpstream = new SendUpstream(
                                defaultRequests,
                                permits,
                                upstream,
                                relay,
                                routeUpstream == null
                                        ? null
                                        : new UpstreamAttempts(
                                                routeUpstream,
                                                defaultRequests,
                                                config.keys().serverKey(),
                                                upstream,
                                                upstreamClients,
                                                relay)),
                        routeUpstream,
                        limitStep),
                b.steps);
    }

    /** Each client once: upstreams with the same settings share theirs. */
    private static java.util.Collection<UpstreamClient> distinct(java.util.Collection<UpstreamClient> clients) {
        java.util.Set<UpstreamClient> once = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        once.addAll(clients);
        return once;
    }

    /**
     * A client per named upstream with a {@code connect-timeout}, {@code timeout} or {@code http-version} of its own
     * (a version other than {@code upstream-http-version}), made from the engine's; upstreams whose settings come to
     * the same share one. The proxy's own clients answer one that differs only in what is set per request (the
     * response timeout; the JDK's version) with a view on themselves, whose close closes nothing.
     */
    private static Map<String, UpstreamClient> ownClients(ProxyConfig config, UpstreamClient upstream) {
        record Made(java.time.Duration connect, java.time.Duration response, UpstreamConfig.HttpVersion version) {}
        UpstreamConfig proxy = config.upstream();
        Map<Made, UpstreamClient> made = new java.util.HashMap<>();
        Map<String, UpstreamClient> clients = new java.util.HashMap<>();
        try {
            for (io.github.openaiproxy.core.upstream.NamedUpstream u :
                    config.upstreams().all()) {
                var c = u.connection();
                UpstreamConfig.HttpVersion version = c.httpVersion().orElse(proxy.httpVersion());
                if (c.connectTimeout().isEmpty() && c.timeout().isEmpty() && version == proxy.httpVersion()) {
                    continue;
                }
                Made settings = new Made(
                        c.connectTimeout().orElse(proxy.connectTimeout()),
                        c.timeout().orElse(proxy.responseTimeout()),
                        version);
                UpstreamClient client = made.get(settings);
                if (client == null) {
                    try {
                        client = upstream.withSettings(settings.connect(), settings.response(), settings.version());
                    } catch (IllegalArgumentException | IllegalStateException e) {
                        if (c.httpVersion().isEmpty()) {
                            throw e;
                        }
                        // An application's Jetty client whose transport cannot speak the version ("2, but ..."), or
                        // Jetty's HTTP/2 jars missing (a message naming the jar): name this setting.
                        String key = io.github.openaiproxy.core.upstream.NamedUpstream.key(u.name(), "http-version");
                        throw e instanceof IllegalArgumentException
                                ? new IllegalArgumentException(key + " is " + e.getMessage(), e)
                                : new IllegalStateException("for " + key + ": " + e.getMessage(), e);
                    }
                    made.put(settings, client);
                }
                clients.put(u.name(), client);
            }
        } catch (RuntimeException | Error e) {
            // An Error too (a client whose HTTP/2 classes cannot link): the build closes only what it was given.
            for (UpstreamClient c : made.values()) {
                if (c != upstream) {
                    c.close();
                }
            }
            throw e;
        }
        return Map.copyOf(clients);
    }

    /** The store {@code images.store} names: the builder's, or a filesystem store; none when not stored. */
    private static ImageStore imageStore(ProxyConfig config, ImageStore given) {
        switch (config.images().store()) {
            case NONE:
                return null;
            case FILESYSTEM:
                return given != null
                        ? given
                        : FilesystemImageStore.create(config.images().directory());
            case S3:
                // The SDK is optional: S3Images checks it is there before anything links it.
                return given != null ? given : S3Images.create(config.images().s3());
            default:
                if (given == null) {
                    throw new IllegalStateException(
                            "images.store=jdbc needs an image store on the database: ProxyEngine.Builder.imageStore");
                }
                return given;
        }
    }

    /**
     * Whether the engine counts tokens from its first request, so that it loads the tokenizer at start: a policy's
     * token or money limit, or a usage ledger (a stream's relayed output is counted as it goes, for the row of a
     * stream cut short). Loaded by the first count instead, it held that stream's relay for seconds on a busy
     * machine, and a client's leaving went unnoticed meanwhile.
     */
    static boolean countsTokensFromStart(Iterable<io.github.openaiproxy.core.access.Policy> policies, boolean ledger) {
        return ledger || QuotaCounters.countsTokens(policies);
    }

    /**
     * The ledger {@code ledger.store} names: the builder's, whatever the setting; else none, or one in memory;
     * {@code jdbc} needs the builder's (the engine has no database).
     */
    private static io.github.openaiproxy.core.usage.UsageLedger usageLedger(
            ProxyConfig config, io.github.openaiproxy.core.usage.UsageLedger given, java.time.Clock clock) {
        if (given != null) {
            return given;
        }
        return switch (config.ledger().store()) {
            case NONE -> io.github.openaiproxy.core.usage.UsageLedger.NONE;
            case MEMORY -> io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger.of(config.ledger(), clock);
            case JDBC ->
                throw new IllegalStateException("ledger.store=jdbc needs a ledger on the database:"
                        + " ProxyEngine.Builder.usageLedger(BatchingUsageLedger.start(JdbcUsageStore.create(dataSource),"
                        + " config.ledger(), clock))");
        };
    }

    /**
     * An engine with the upstream client its configuration asks for ({@code upstream-client}: by default Jetty's
     * when {@code jetty-client} is on the class path, else the JDK's); {@link #close()} releases it.
     */
    public static ProxyEngine create(ProxyConfig config) {
        return builder(config).build();
    }

    /** An engine on a client the caller owns (and closes). */
    public static ProxyEngine create(ProxyConfig config, UpstreamClient upstream) {
        return builder(config).upstreamClient(upstream).build();
    }

    /** A builder for an engine with extras: its own upstream client, an observer, routes of modules, a session store. */
    public static Builder builder(ProxyConfig config) {
        return new Builder(config);
    }

    public ProxyConfig config() {
        return config;
    }

    /**
     * Whether a path (relative to the mount point) is one of the proxy's routes, whatever the method.
     * A filter hands everything else down its chain.
     */
    public boolean hasRoute(String path) {
        return routes.match(path).isPresent();
    }

    /**
     * Whether the proxy serves a request: one of its routes with one of that route's methods, or a CORS
     * preflight ({@code OPTIONS} with {@code Access-Control-Request-Method}) asking for one. A filter in
     * front of an application passes everything else down its chain, so {@code GET /} still reaches the
     * application's home page while {@code POST /} is the proxy's.
     *
     * @param method the request method
     * @param path the path relative to the mount point
     * @param preflightMethod the {@code Access-Control-Request-Method} header, or {@code null}
     */
    public boolean serves(String method, String path, String preflightMethod) {
        return routes.match(path)
                .map(route -> {
                    String m = method; // case-sensitive, as the engine routes it
                    if (m.equals("OPTIONS")) {
                        return preflightMethod != null
                                && route.methods()
                                        .contains(preflightMethod.strip().toUpperCase(java.util.Locale.ROOT));
                    }
                    return route.methods().contains(m);
                })
                .orElse(false);
    }

    /**
     * Handles a request. The future completes with the response once its headers are known; cancel it
     * when the client goes away, and the upstream call is aborted. It never completes exceptionally
     * except by that cancellation: every failure becomes an error response.
     */
    public CompletableFuture<ProxyResponse> handle(ProxyRequest request) {
        return handle(request, null);
    }

    /**
     * As {@link #handle(ProxyRequest)}, for a module route's sub-request (observed as one): it runs under its
     * client request's identity.
     */
    CompletableFuture<ProxyResponse> handleSubRequest(ProxyRequest request, Identity identity) {
        return handle(request, java.util.Objects.requireNonNull(identity, "identity"));
    }

    /**
     * The status observers are told for a client that left before the answer's headers: nginx's "client closed
     * request", which no answer carries.
     */
    static final int CLIENT_CLOSED_REQUEST = 499;

    private CompletableFuture<ProxyResponse> handle(ProxyRequest request, Identity inherited) {
        if (request.method().equals("HEAD") && serves("HEAD", request.path(), null)) {
            return asHead(handle(request.withMethod("GET"), inherited, true));
        }
        return handle(request, inherited, false);
    }

    /**
     * @param head whether the request is a HEAD run as its GET: the GET's body is dropped before the observers
     *     see the answer, so they count an answer that ended as it should, not a client gone before its body
     */
    private CompletableFuture<ProxyResponse> handle(ProxyRequest request, Identity inherited, boolean head) {
        boolean subRequest = inherited != null;
        long start = System.nanoTime();
        if (!subRequest && RequestChecks.hasBody(request)) {
            // Every reader of the body (read whole, or streamed to the upstream) meets the one deadline.
            request = request.withBody(new DeadlineRequestBody(
                    request.body(), config.requestBodyTimeout(), config.requestBodyMinRate(), start));
        }
        // A client's trace context is followed only when configured: its sampled flag would override the
        // proxy's sampler, so any client could have its requests recorded and exported.
        java.net.http.HttpHeaders traced =
                config.clientTraceContext() == io.github.openaiproxy.core.observe.ClientTraceContext.CONTINUE
                        ? request.headers()
                        : null;
        ProxyObserver.Observation observation =
                GuardedObservation.begin(observer, request.method(), request.path(), traced, subRequest);
        RequestInFlight inFlight = new RequestInFlight();
        RequestContext ctx =
                new RequestContext(request, observation, observer.wantsDetails(), subRequest, inFlight, inherited);
        ctx.startedAt = start;
        CompletableFuture<ProxyResponse> result = new CompletableFuture<>();
        // Once close() began, nothing new is started: the stores and the upstream client are closing.
        boolean refused = closed.get();
        (refused ? shuttingDown(ctx) : run(ctx)).whenComplete((response, error) -> {
            ctx.finish(); // before anyone reads the answer: a step that kept its next is refused from now on
            inFlight.abandon();
            // A host step's future of no response is a failure too: otherwise nothing would ever answer.
            ProxyResponse r = error == null && response != null
                    ? response
                    : internalError(
                            ctx, error != null ? error : new NullPointerException("the pipeline answered no response"));
            if (!subRequest || r.status() >= 400) {
                // A sub-request's error too: the module's error (GraphQL's extensions.requestId) names the id the
                // proxy's log line about it does. Its successes need none: nobody sees their headers.
                r = withRequestId(ctx, r);
            }
            if (head) {
                r = r.withoutBody();
            }
            observation.routed(ctx.route(), ctx.model());
            if (result.isCancelled()) {
                // The client left before the answer's headers: nobody gets this answer (as often as not the 502 of
                // the upstream call its leaving aborted), so the observers hear of a client gone, not of a 502.
                r.discard();
                observation.finished(
                        CLIENT_CLOSED_REQUEST,
                        false,
                        io.github.openaiproxy.core.observe.Outcome.CLIENT_GONE,
                        java.time.Duration.ofNanos(System.nanoTime() - start));
                return;
            }
            ProxyResponse observed = ObservedResponses.observe(r, observation, start, observer.wantsDetails());
            if (!subRequest && tracksOpenRequests && !refused) {
                // A module route's sub-requests end with their request; the 503 of a closing engine records nothing.
                observed = openRequests.track(observed);
            }
            if (!result.complete(observed)) {
                observed.discard();
            }
        });
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                inFlight.cancel();
            }
        });
        if (!subRequest && tracksOpenRequests) {
            openRequests.track(result, () -> {
                // Not sent upstream yet (reading its body, identified, admitted by the limit store): a 503 its client
                // may retry elsewhere, and the step it waits at refuses it when it goes on. Sent: aborted as if its
                // client had left (its usage recorded).
                if (!ctx.upstreamCalled && result.complete(shuttingDownNow(ctx))) {
                    inFlight.cancel();
                } else {
                    result.cancel(true);
                }
            });
        }
        return result;
    }

    /** The answer to a request that came once close() began. */
    private CompletableFuture<ProxyResponse> shuttingDown(RequestContext ctx) {
        try {
            return CompletableFuture.completedFuture(shuttingDownNow(ctx));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private ProxyResponse shuttingDownNow(RequestContext ctx) {
        ResponseFactory responses;
        try {
            responses = pipeline.lastResort(ctx); // its CORS headers, its route's error style
        } catch (RuntimeException e) {
            responses = new ResponseFactory(RequestPipeline.styleForUnknown(ctx.request.path()), Map.of());
        }
        return responses.error(ProxyError.shuttingDown());
    }

    private CompletableFuture<ProxyResponse> run(RequestContext ctx) {
        try {
            return pipeline.run(ctx);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * The answer with the proxy's {@code x-request-id} when the proxy made it (see {@link RequestIds}); an error of
     * the proxy's that no log line named yet gets one with the id (DEBUG for a 4xx, INFO for a 5xx).
     */
    private static ProxyResponse withRequestId(RequestContext ctx, ProxyResponse r) {
        ProxyResponse marked = RequestIds.mark(ctx, r);
        if (marked != r && r.status() >= 400 && !ctx.requestIdLogged) {
            // The route's template, not the path: a path may hold a session's id, which is its bearer's secret.
            LOG.log(
                    r.status() >= 500 ? System.Logger.Level.INFO : System.Logger.Level.DEBUG,
                    "{0} {1}: the proxy answered {2}, x-request-id {3}",
                    ctx.request.method(),
                    ctx.route(),
                    r.status(),
                    ctx.requestId());
        }
        return marked;
    }

    private ProxyResponse internalError(RequestContext ctx, Throwable error) {
        // A failure of a host step that wraps the pipeline (Recover answers for the steps after them): its CORS
        // headers all the same, judged now if the step failed before the pipeline judged them.
        ResponseFactory responses;
        try {
            responses = pipeline.lastResort(ctx);
        } catch (RuntimeException e) {
            error.addSuppressed(e);
            responses = new ResponseFactory(RequestPipeline.styleForUnknown(ctx.request.path()), Map.of());
        }
        return internalError(ctx, error, responses);
    }

    /** Logs a failure and answers the proxy's 500 from {@code responses}. */
    static ProxyResponse internalError(RequestContext ctx, Throwable error, ResponseFactory responses) {
        // The route's template, not the path: a path may hold a session's id, which is its bearer's secret.
        String request = ctx.request.method() + " " + ctx.route();
        if (ctx.inFlight.cancelled() && Failures.unwrap(error) instanceof CancellationException) {
            // The client went away and a module route's answer was cancelled with it: nothing failed.
            LOG.log(System.Logger.Level.DEBUG, "{0}: cancelled, the client went away", request);
        } else {
            LOG.log(
                    System.Logger.Level.ERROR,
                    "proxy failed on " + request + ", x-request-id " + ctx.loggedRequestId(),
                    error);
        }
        return responses.error(ProxyError.internal());
    }

    /** The steps a request for {@code path} runs, in order (see {@link RequestPipeline}). */
    List<RequestStep> steps(String path) {
        return pipeline.steps(routes.match(path).orElse(null));
    }

    /**
     * A GET's answer, its body dropped already (see {@link #handle(ProxyRequest, Identity, boolean)}), as the answer
     * to a HEAD; cancelling it cancels the GET.
     */
    private static CompletableFuture<ProxyResponse> asHead(CompletableFuture<ProxyResponse> get) {
        CompletableFuture<ProxyResponse> head = new CompletableFuture<>();
        get.whenComplete((r, e) -> {
            if (e != null) {
                head.completeExceptionally(e);
            } else if (!head.complete(r)) {
                r.discard(); // head was cancelled: nobody writes the (empty) answer
            }
        });
        head.whenComplete((r, e) -> {
            if (head.isCancelled()) {
                get.cancel(true);
            }
        });
        return head;
    }

    /**
     * The upstream calls in flight now: from just before each call until its answer's body has been relayed,
     * failed or been cancelled (the count {@code limits.max-concurrent-upstream-calls} caps).
     */
    public int upstreamCallsInFlight() {
        return permits.inFlight();
    }

    /**
     * Asks the default upstream ({@code base-url}) for its model list with the server key, outside the request
     * pipeline: no identity, policy, limit or ledger applies, so a health check answers for the upstream and the
     * key, whatever the proxy lets anonymous callers do. Free (no tokens). Completes with the upstream's status
     * once its headers are in (the body is not read); fails as a call fails (unreachable, a timeout), or at once without a server key.
     */
    public CompletableFuture<Integer> probeUpstream() {
        java.util.Optional<io.github.openaiproxy.core.keys.ApiKey> key =
                config.keys().serverKey();
        if (key.isEmpty()) {
            return CompletableFuture.failedFuture(new IllegalStateException("no server key"));
        }
        CompletableFuture<io.github.openaiproxy.core.upstream.UpstreamResponse> sent;
        try {
            sent = upstream.send(new UpstreamRequests(config.upstream())
                    .passThrough(
                            "GET",
                            "/v1/models",
                            null,
                            java.net.http.HttpHeaders.of(Map.of(), (n, v) -> true),
                            (io.github.openaiproxy.core.upstream.UpstreamRequest.StreamedBody) null,
                            key.get()));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        // Only the status is wanted: the body is let go at once (its connection closes; a probe is rare).
        CompletableFuture<Integer> status = sent.thenApply(answer -> {
            io.github.openaiproxy.core.internal.Bodies.discard(answer.body());
            return answer.status();
        });
        status.whenComplete((v, e) -> {
            if (status.isCancelled()) {
                sent.cancel(true); // the upstream client then releases an answer still on its way
            }
        });
        return status;
    }

    /**
     * Checks the stores the proxy reaches over the network, for health endpoints: the Redis limit store ({@code
     * limits}, a {@code PING}) and the S3 image store ({@code images}, a {@code HEAD} of the bucket, run on the
     * image threads); empty when neither is in use. Each probe fails when its store does not answer; the caller
     * bounds the wait and cancels. Outside the request pipeline: nothing is counted or recorded.
     */
    public java.util.List<StoreProbe> probeStores() {
        java.util.List<StoreProbe> probes = new java.util.ArrayList<>(2);
        if (limitStore instanceof io.github.openaiproxy.core.limits.RedisLimitStore redis) {
            probes.add(new StoreProbe("limits", redis.kind(), redis.ping()));
        }
        io.github.openaiproxy.core.images.S3Images.probe(imageStore, imageThreads)
                .ifPresent(answer -> probes.add(new StoreProbe("images", "s3", answer)));
        return java.util.List.copyOf(probes);
    }

    /**
     * Each named upstream's state now, in configuration order: its key count, the keys a 401 took out,
     * and its circuit; empty without named upstreams. Read-only and secret-free, for health endpoints.
     */
    public java.util.List<io.github.openaiproxy.core.upstream.UpstreamState> upstreamStates() {
        return routeUpstream == null ? java.util.List.of() : routeUpstream.states();
    }

    /**
     * Where this engine's usage records go: the builder's ledger, one in memory ({@code ledger.store=memory}), or
     * {@link io.github.openaiproxy.core.usage.UsageLedger#NONE}.
     */
    public io.github.openaiproxy.core.usage.UsageLedger usageLedger() {
        return usageLedger;
    }

    /** The queries over the usage ledger, when it keeps rows that can be summed. */
    public java.util.Optional<io.github.openaiproxy.core.usage.ledger.UsageQueries> usageQueries() {
        return usageLedger instanceof io.github.openaiproxy.core.usage.ledger.UsageQueries q
                ? java.util.Optional.of(q)
                : java.util.Optional.empty();
    }

    /**
     * The longest {@link #close()} waits for the requests it ended, or that other threads are ending, to be settled
     * and their usage recorded.
     */
    public static final java.time.Duration SETTLE_TIMEOUT = java.time.Duration.ofSeconds(10);

    /**
     * Ends the requests still under way as if their clients had gone (an answer nobody reads yet is discarded; one not
     * sent upstream yet, and any request from then on, is answered 503 {@code shutting_down} with {@code
     * Retry-After}), and waits at most {@link #SETTLE_TIMEOUT} until every request, those other threads are ending
     * meanwhile included, is settled and its usage recorded (then at most {@code limits.store-timeout} for the limit
     * store, and at most {@link #SETTLE_TIMEOUT} for the session store calls under way: a turn being recorded); then
     * closes the upstream client and the session store if this engine created them, the stream timer, and the usage
     * ledger (which writes what it has queued first). A second call does nothing.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return; // closed already (a framework may close it on stopping and again on destroying it)
        }
        // From now on a request that has not called the upstream yet is answered 503 where it is (a JWKS fetch, its
        // body, the limit store, may have held it): set before the settlements are counted below, so one that went on
        // past the limit step before is counted there, and one after is refused at the upstream call.
        limitStep.closing = true;
        sendUpstream.closing = true;
        // First, while the ledger and the limit store are open: a container ends a request it dropped only when it
        // gets to it, and a Spring context closes the engine before it destroys the web server that would end them.
        openRequests.endAll();
        // A request another thread is ending (a container timing out its async requests as it stops, on its own
        // threads) left the open ones but may not have recorded its usage yet: a stream cut without usage counts
        // its output with the tokenizer, loaded on first use, which takes seconds on a loaded machine.
        warnStillUnderWay(
                limitStep.awaitSettlements(SETTLE_TIMEOUT),
                "requests not settled",
                "their usage rows and settlements are lost unless they come before the ledger and the limit store"
                        + " close");
        limitStep.awaitStoreCalls(config.limits().storeTimeout().plusMillis(200));
        // A session turn is written after its answer (or as its stream ends): written before its store closes.
        warnStillUnderWay(
                sessions.awaitStoreCalls(SETTLE_TIMEOUT),
                "session store calls",
                "the turns they record are lost if the session store closes first");
        if (uploadSpool != null) {
            uploadSpool.close(); // the requests are ended: no spool file is read again
        }
        relay.close();
        if (ownsUpstream) {
            upstream.close();
        }
        for (UpstreamClient c : distinct(upstreamClients.values())) {
            if (c != upstream) {
                c.close(); // made for named upstreams' timeouts or version from the engine's client
            }
        }
        if (sessionThreads != null) {
            sessionThreads.shutdown();
        }
        if (adminThreads != null) {
            adminThreads.shutdown();
        }
        policies.close();
        if (accessThreads != null) {
            accessThreads.shutdown();
        }
        if (imageThreads != null) {
            imageThreads.shutdown();
        }
        // An image being stored, a key, policy or audit entry being written: written before the stores close (the
        // engine's image store next, the caller's once close() returns). Their calls have deadlines of their own.
        warnStillUnderWay(
                awaitTermination(SETTLE_TIMEOUT, imageThreads, adminThreads, sessionThreads),
                "of the engine's store thread pools (images, admin, sessions)",
                "a write under way there is lost if its store closes first");
        if (ownedImageStore != null) {
            try {
                ownedImageStore.close();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "image store not closed: " + e.getMessage());
            }
        }
        if (ownsSessionStore) {
            sessionStore.close();
        }
        if (ownsLimitStore) {
            limitStore.close();
        }
        // Last: the answers relayed until now have recorded their usage.
        usageLedger.close();
    }

    /** Logs what {@link #close()} stopped waiting for after {@link #SETTLE_TIMEOUT}, and what is lost with it. */
    private static void warnStillUnderWay(int left, String what, String lost) {
        if (left > 0) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "{0} {1} still under way after waiting {2} on closing: {3}",
                    left,
                    what,
                    SETTLE_TIMEOUT,
                    lost);
        }
    }

    /** Waits, at most {@code max} in all, for pools already shut down to finish; returns how many did not. */
    private static int awaitTermination(java.time.Duration max, ExecutorService... pools) {
        long deadline = System.nanoTime() + max.toNanos();
        int busy = 0;
        for (ExecutorService pool : pools) {
            try {
                if (pool != null
                        && !pool.awaitTermination(
                                Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS)) {
                    busy++;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return busy + 1;
            }
        }
        return busy;
    }

    /** The limit step, for tests (its backlog). */
    LimitStep limitStep() {
        return limitStep;
    }

    /** Registers threads the build made, shut down if the build is refused later on. */
    private static ExecutorService shutDownOnFailure(BuildResources made, ExecutorService threads) {
        return made.add(threads, threads::shutdown);
    }

    /**
     * Four threads for a blocking store's calls, with a bounded queue: when the database is slow, calls
     * beyond the queue are refused at once (503 with Retry-After) instead of piling up in memory.
     */
    private static ExecutorService boundedSessionThreads(int queueSize) {
        return boundedThreads("openai-proxy-sessions-", 4, queueSize);
    }

    private static ExecutorService boundedThreads(String name, int threads, int queueSize) {
        return new java.util.concurrent.ThreadPoolExecutor(
                threads,
                threads,
                0,
                java.util.concurrent.TimeUnit.MILLISECONDS,
                new java.util.concurrent.ArrayBlockingQueue<>(queueSize),
                DaemonThreads.numbered(name),
                new java.util.concurrent.ThreadPoolExecutor.AbortPolicy());
    }

    /** Two threads for the admin API's store calls (rare, and blocking on JDBC); beyond 100 waiting: 503. */
    private static ExecutorService adminThreads() {
        return boundedThreads("openai-proxy-admin-", 2, 100);
    }

    /** Builds a {@link ProxyEngine}. */
    public static final class Builder {
        private final ProxyConfig config;
        private UpstreamClient upstream;
        private final List<ProxyObserver> observers = new ArrayList<>();
        private final List<CustomRoute> routes = new ArrayList<>();
        private SessionStore sessionStore;
        private Executor sessionExecutor;
        private java.time.Clock clock = java.time.Clock.systemUTC();
        private java.util.function.LongSupplier nanoTime = System::nanoTime;
        private final List<io.github.openaiproxy.core.access.IdentitySource> identitySources = new ArrayList<>();
        private final Map<RequestStep.Position, List<RequestStep>> steps = new EnumMap<>(RequestStep.Position.class);
        // Keys, policies and the admin API's audit log.
        private ProxyKeyStore proxyKeys;
        private PolicyStore policyStore;
        private AuditLog auditLog;
        private ImageStore imageStore;
        private io.github.openaiproxy.core.usage.UsageLedger usageLedger;
        private io.github.openaiproxy.core.limits.LimitStore limitStore;
        private LimitStep.Tap usageTap = io.github.openaiproxy.core.usage.UsageTap::tap;

        private Builder(ProxyConfig config) {
            this.config = Objects.requireNonNull(config, "config");
        }

        /** Uses a client the caller owns (and closes) instead of creating the default one. */
        public Builder upstreamClient(UpstreamClient upstream) {
            this.upstream = Objects.requireNonNull(upstream, "upstream");
            return this;
        }

        /**
         * Calls the upstream through an application's own JDK {@link java.net.http.HttpClient} (its
         * {@code SSLContext}, mTLS keys or corporate proxy), used as it is: the engine does not change it and
         * does not close it. See {@link UpstreamClient#jdk(io.github.openaiproxy.core.upstream.UpstreamConfig,
         * java.net.http.HttpClient)} for what it must not do.
         */
        public Builder upstreamHttpClient(java.net.http.HttpClient httpClient) {
            return upstreamClient(UpstreamClient.jdk(config.upstream(), httpClient));
        }

        /**
         * Adds an observer (metrics, tracing) that every exchange is reported to. Each call adds one; they
         * are called in the order they were added (see {@link CompositeProxyObserver}).
         */
        public Builder observer(ProxyObserver observer) {
            this.observers.add(Objects.requireNonNull(observer, "observer"));
            return this;
        }

        /** Adds a route of a module, such as {@code /graphql}. */
        public Builder route(CustomRoute route) {
            this.routes.add(Objects.requireNonNull(route, "route"));
            return this;
        }

        /**
         * Keeps chat sessions in this store (the caller owns and closes it) instead of the default
         * bounded in-memory one; for example {@code SessionStore.jdbc(dataSource)} for durable history
         * shared by several instances.
         */
        public Builder sessions(SessionStore store) {
            this.sessionStore = Objects.requireNonNull(store, "store");
            return this;
        }

        /**
         * Runs the calls of a blocking session store (JDBC) on this executor instead of the engine's own
         * four threads. Never the threads that relay requests.
         */
        public Builder sessionExecutor(Executor executor) {
            this.sessionExecutor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Adds a step of the host application at a named position of the {@link RequestPipeline}; steps
         * at one position run in the order they were added. The step is shared by all requests.
         */
        public Builder step(RequestStep.Position position, RequestStep step) {
            Objects.requireNonNull(position, "position");
            Objects.requireNonNull(step, "step");
            steps.computeIfAbsent(position, p -> new ArrayList<>()).add(step);
            return this;
        }

        /**
         * Keeps proxy keys in this store (the caller owns it), for example a
         * {@link io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore}; default: in memory. Keys declared in
         * configuration ({@code access.keys}) are looked up before it, and are read-only.
         */
        public Builder proxyKeys(ProxyKeyStore store) {
            this.proxyKeys = Objects.requireNonNull(store, "store");
            return this;
        }

        /**
         * Keeps the policies managed through the admin API in this store, for example a
         * {@link io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore}; default: in memory. Requests look
         * policies up here after the configured ones; the answers are cached for a few seconds and the blocking
         * calls run on one thread of the engine's. The caller owns and closes the store.
         */
        public Builder policyStore(PolicyStore store) {
            this.policyStore = Objects.requireNonNull(store, "store");
            return this;
        }

        /**
         * Writes the admin API's changes to this log, for example a
         * {@link io.github.openaiproxy.core.access.jdbc.JdbcAuditLog}; default: in memory.
         */
        public Builder auditLog(AuditLog log) {
            this.auditLog = Objects.requireNonNull(log, "log");
            return this;
        }

        /**
         * Adds an identity source of the host application (its own tokens, a gateway's signed header, ...),
         * asked before the built-in ones (proxy key, host user, JWT) in the order added. Its first answer other
         * than {@link io.github.openaiproxy.core.access.Resolution#ABSENT} decides, as for the built-in sources;
         * it must not block.
         */
        public Builder identitySource(io.github.openaiproxy.core.access.IdentitySource source) {
            identitySources.add(Objects.requireNonNull(source, "source"));
            return this;
        }

        /**
         * The monotonic time ({@link System#nanoTime()} by default) the upstreams' circuit breakers measure their
         * open interval by; for tests, which move it rather than sleep.
         */
        public Builder nanoTime(java.util.function.LongSupplier nanoTime) {
            this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
            return this;
        }

        /** The time the engine judges keys' and tokens' expiry by, and runs its access caches on; for tests. */
        public Builder clock(java.time.Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * The store generated images are kept in when {@code images.store} is not none (required for
         * {@code jdbc}: a {@link io.github.openaiproxy.core.images.JdbcImageStore} on the host's database); by
         * default a {@link FilesystemImageStore} in {@code images.directory}. The caller owns (and closes) it.
         */
        public Builder imageStore(ImageStore store) {
            this.imageStore = Objects.requireNonNull(store, "store");
            return this;
        }

        /**
         * Counts the policies' rate limits and budgets in this store (the caller owns and closes it) instead of
         * the one {@code limits.store} names; a store shared by instances makes their limits exact together.
         */
        public Builder limitStore(io.github.openaiproxy.core.limits.LimitStore store) {
            this.limitStore = Objects.requireNonNull(store, "store");
            return this;
        }

        /**
         * Where usage records go, whatever {@code ledger.store} says (required for {@code jdbc}: a
         * {@link io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger} on a
         * {@link io.github.openaiproxy.core.usage.ledger.JdbcUsageStore}); by default none, or one in memory for
         * {@code memory}. The engine closes it when it closes, which writes what it has queued.
         */
        public Builder usageLedger(io.github.openaiproxy.core.usage.UsageLedger ledger) {
            this.usageLedger = Objects.requireNonNull(ledger, "ledger");
            return this;
        }

        /** Reads answers' usage with this tap instead of {@link io.github.openaiproxy.core.usage.UsageTap}; tests. */
        Builder usageTap(LimitStep.Tap tap) {
            this.usageTap = Objects.requireNonNull(tap, "tap");
            return this;
        }

        public ProxyEngine build() {
            return ProxyEngine.build(this);
        }
    }
}
