package io.github.openaiproxy.examples.standalone;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.SettingsBinder;
import io.github.openaiproxy.core.config.SettingsCatalog;
import io.github.openaiproxy.core.config.UnknownSettings;
import io.github.openaiproxy.core.http.AllowedHosts;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.JdbcImageStore;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.JdbcUsageStore;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.demo.DemoUpstream;
import io.github.openaiproxy.graphql.GraphQlOptions;
import io.github.openaiproxy.graphql.GraphQlRoute;
import io.github.openaiproxy.servlet.OpenAiProxyServlet;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.core.StandardHost;
import org.apache.catalina.startup.Tomcat;

/**
 * The proxy as a standalone server: embedded Tomcat with the servlet adapter mounted at {@code /},
 * configured from the environment ({@code OPENAI_API_KEY}, {@code OPENAI_BASE_URL}, {@code PORT},
 * {@code HOST} (default {@code 127.0.0.1}; bound to loopback, {@code allowed-hosts} defaults to the loopback
 * names), {@code OPENAI_PROXY_ALLOWED_ORIGINS}, {@code OPENAI_PROXY_ALLOW_CLIENT_KEY} and the other keys of
 * {@link ProxySettings#fromEnvironment}). The GraphQL endpoint is mounted at {@code /graphql}
 * ({@code OPENAI_PROXY_GRAPHQL_*} settings, see {@link GraphQlOptions}), and chat sessions are kept in an
 * embedded H2 file or the database {@code OPENAI_PROXY_DB_URL} names (see {@link SessionStorage}).
 *
 * <p>With {@code --demo} it starts a local fake OpenAI upstream and points the proxy at it, so the proxy
 * can be tried with no key and no network; the answers are canned and say so.
 */
public final class StandaloneServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(StandaloneServer.class.getName());
    /** Origins a local front end runs on; allowed in demo mode unless configured otherwise. */
    static final String DEMO_ORIGINS = "http://localhost:*,http://127.0.0.1:*";

    private final Tomcat tomcat;
    private final ProxyEngine engine;
    private final DemoUpstream demo;
    private final File baseDir;
    private final SessionStorage sessions;
    private final AccessStorage access;
    /** OpenTelemetry when the OTEL_* variables ask for it, else {@code null}. */
    private final Telemetry telemetry;
    /** The limit store this server made ({@code limits.store} jdbc or redis), else {@code null}; the engine leaves it open. */
    private final io.github.openaiproxy.core.limits.LimitStore limitStore;
    /** How long a stop waits for the requests under way ({@link GracefulStop}). */
    private final Duration gracePeriod;

    private final java.util.concurrent.atomic.AtomicBoolean closing = new java.util.concurrent.atomic.AtomicBoolean();
    private final java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);

    private StandaloneServer(
            Tomcat tomcat,
            ProxyEngine engine,
            DemoUpstream demo,
            File baseDir,
            SessionStorage sessions,
            AccessStorage access,
            Telemetry telemetry,
            io.github.openaiproxy.core.limits.LimitStore limitStore,
            Duration gracePeriod) {
        this.gracePeriod = gracePeriod;
        this.telemetry = telemetry;
        this.limitStore = limitStore;
        this.tomcat = tomcat;
        this.engine = engine;
        this.demo = demo;
        this.baseDir = baseDir;
        this.sessions = sessions;
        this.access = access;
    }

    /**
     * A command's output is its answer: the connection pool's and the migrations' start-up lines (INFO) stay out
     * of it; warnings and errors still show.
     */
    private static void commandLineLogging() {
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
    }

    public static void main(String[] args) {
        tuneJvm(System.getProperties(), Runtime.getRuntime().availableProcessors());
        h2OnLoopback(System.getProperties());
        if (args.length > 0 && args[0].equals("usage")) {
            // The usage ledger summed on the command line, from the configured database.
            commandLineLogging();
            System.exit(UsageCommand.run(args, System.getenv(), null, System.out, System.err));
            return;
        }
        if (args.length > 0 && args[0].equals("keys")) {
            // The admin API's key operations on the command line, against the configured database.
            commandLineLogging();
            System.exit(KeysCommand.run(args, System.getenv(), null, System.out, System.err));
            return;
        }
        System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tT %4$-7s %3$s - %5$s%6$s%n");
        StandaloneOptions options;
        try {
            options = StandaloneOptions.parse(args, System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println((e.getMessage().equals("usage") ? "" : e.getMessage() + "\n")
                    + "usage: java -jar openai-proxy-standalone.jar [--demo | --demo-if-no-key] [--port=N]\n"
                    + "       java -jar openai-proxy-standalone.jar keys create|list|revoke|rotate|hash ...\n"
                    + "       java -jar openai-proxy-standalone.jar usage --since 7d [--by key|user|model|policy|day]");
            System.exit(2);
            return;
        }
        try {
            StandaloneServer server = start(options, System.getenv());
            Runtime.getRuntime().addShutdownHook(new Thread(server::close, "openai-proxy-shutdown"));
            stopOnSignals(server);
            server.tomcat.getServer().await();
            // Tomcat's stop ends the wait, in the middle of close(): main must not end before it (with only daemon
            // threads left, the JVM would begin its shutdown, and halt, half-way through it).
            server.awaitClosed();
            System.exit(EXIT_STATUS.get());
        } catch (IllegalArgumentException e) {
            System.err.println("openai-proxy: configuration error: " + e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            System.err.println("openai-proxy: could not start: " + e);
            System.exit(1);
        }
    }

    /**
     * SIGTERM (an orchestrator's stop, {@code docker stop}) and SIGINT (Ctrl-C) close the server first and then exit
     * as the signal would have ({@code 128 +} its number). Left to the shutdown hook, the close ran beside the JVM's
     * other hooks, all at once and in no order: java.util.logging's resets the log, so whatever the close logged (a
     * usage ledger that could not write its queue, a store that failed) was dropped, and H2's closes the embedded
     * database the ledger writes that queue to. The hook stays for every other way out ({@code System.exit}).
     */
    static void stopOnSignals(StandaloneServer server) {
        for (String name : List.of("TERM", "INT")) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> {
                    LOG.log(System.Logger.Level.INFO, "openai-proxy stopping (SIG{0})", signal.getName());
                    EXIT_STATUS.compareAndSet(0, 128 + signal.getNumber());
                    server.close();
                    System.exit(EXIT_STATUS.get());
                });
            } catch (IllegalArgumentException e) {
                // The JVM keeps this signal (-Xrs) or the platform has none: the shutdown hook stops the server.
            }
        }
    }

    /** The status the process ends with: {@code 128 +} the number of the signal that stopped it, else 0. */
    private static final java.util.concurrent.atomic.AtomicInteger EXIT_STATUS =
            new java.util.concurrent.atomic.AtomicInteger();

    /** Every setting this server reads: core's, the GraphQL module's and its own. */
    static final SettingsCatalog SETTINGS = SettingsCatalog.concat(
            ProxySettings.CATALOG, GraphQlOptions.SETTINGS, SessionStorage.SETTINGS, GracefulStop.SETTINGS);

    /** Starts the server; the returned instance is running. */
    public static StandaloneServer start(StandaloneOptions options, Map<String, String> env)
            throws LifecycleException, IOException {
        return start(options, env, Clock.systemUTC());
    }

    /**
     * Starts the server with {@code clock} as the session store's clock (creation times and retention);
     * tests move it instead of waiting.
     */
    public static StandaloneServer start(StandaloneOptions options, Map<String, String> env, Clock clock)
            throws LifecycleException, IOException {
        return start(options, env, clock, null);
    }

    /**
     * Starts the server with the default session database under {@code workDir} instead of the working
     * directory ({@code null}: the working directory), as a server started there would.
     */
    static StandaloneServer start(StandaloneOptions options, Map<String, String> env, Clock clock, Path workDir)
            throws LifecycleException, IOException {
        DemoUpstream demo = null;
        Map<String, String> settings = new HashMap<>(env);
        if (options.demo()) {
            demo = DemoUpstream.start();
            settings.put("OPENAI_BASE_URL", demo.baseUrl().toString());
            settings.putIfAbsent("OPENAI_API_KEY", "demo-key");
            settings.putIfAbsent(ProxySettings.environmentName("cors.allowed-origins"), DEMO_ORIGINS);
            settings.putIfAbsent(ProxySettings.environmentName("allow-client-key"), "true");
        }
        boolean loopback = isLoopback(options.host());
        String allowedHosts = ProxySettings.environmentName("allowed-hosts");
        if (loopback
                && (settings.get(allowedHosts) == null
                        || settings.get(allowedHosts).isBlank())) {
            // Only this machine can connect, so only its names are real: a page on another domain that
            // re-points its DNS name at 127.0.0.1 (DNS rebinding) gets 403 instead of the key.
            settings.put(allowedHosts, String.join(",", loopbackNames(options.host())));
        }
        // A misspelt variable would be ignored without a word: name it (never its value) and what it may mean.
        for (UnknownSettings.Unknown u : UnknownSettings.inEnvironment(SETTINGS, settings.keySet())) {
            LOG.log(System.Logger.Level.WARNING, u.message());
        }
        ProxyConfig config;
        Duration gracePeriod;
        SettingsBinder graphQlSettings;
        GraphQlOptions graphQl;
        SessionStorage sessions = null;
        AccessStorage access;
        Telemetry telemetry = null;
        try {
            config = ProxySettings.fromEnvironment(settings).toConfig();
            gracePeriod = GracefulStop.gracePeriod(settings);
            graphQlSettings = SettingsBinder.fromEnvironment(GraphQlOptions.SETTINGS, settings);
            graphQl = GraphQlOptions.from(graphQlSettings);
            sessions = SessionStorage.open(settings, clock, workDir);
            access = AccessStorage.open(settings, sessions, workDir);
            telemetry = Telemetry.fromEnvironment(settings).orElse(null);
        } catch (RuntimeException e) {
            if (sessions != null) {
                sessions.close();
            }
            if (demo != null) {
                demo.close();
            }
            throw e;
        }
        ProxyEngine.Builder builder = ProxyEngine.builder(config)
                .sessions(sessions.store())
                .proxyKeys(access.keys())
                .policyStore(access.policies())
                .auditLog(access.audit());
        if (telemetry != null) {
            builder.observer(telemetry.observer()); // the GenAI conventions' spans and metrics, trace context upstream
        }
        if (graphQl.enabled()) {
            builder.route(GraphQlRoute.create(config, graphQl));
        }
        if (config.images().store() == ImageConfig.Store.JDBC) {
            // On the database the sessions and keys use (filesystem: the engine's own store in images.directory).
            builder.imageStore(
                    JdbcImageStore.create(sessions.dataSource() != null ? sessions.dataSource() : access.ownPool()));
        }
        if (config.ledger().store() == LedgerConfig.Store.JDBC) {
            // The usage ledger on the same database, written in batches from a thread of its own.
            builder.usageLedger(BatchingUsageLedger.start(
                    JdbcUsageStore.create(
                            sessions.dataSource() != null ? sessions.dataSource() : access.ownPool(),
                            JdbcUsageStore.DEFAULT_PREFIX,
                            clock),
                    config.ledger(),
                    clock));
        }
        io.github.openaiproxy.core.limits.LimitStore limitStore = null;
        if (config.limits().store() != io.github.openaiproxy.core.limits.LimitsConfig.Store.MEMORY) {
            // Rate limits and budgets on the database the sessions and keys use, or on Redis. Closed by close():
            // the engine leaves a store it was given open.
            limitStore = io.github.openaiproxy.core.limits.LimitStores.create(
                    config.limits(), sessions.dataSource() != null ? sessions.dataSource() : access.ownPool());
            builder.limitStore(limitStore);
        }
        ProxyEngine engine;
        try {
            engine = builder.build();
        } catch (IllegalArgumentException e) {
            if (telemetry != null) {
                telemetry.close();
            }
            if (limitStore != null) {
                limitStore.close();
            }
            access.close();
            sessions.close();
            if (demo != null) {
                demo.close();
            }
            // The GraphQL endpoint is this server's only custom route: a clash is its path's, and the refusal names
            // the setting as every other refused value does.
            if (graphQl.enabled() && String.valueOf(e.getMessage()).startsWith("custom route path")) {
                throw graphQlSettings.invalid(
                        "graphql.path", "the proxy already serves this path; choose another, such as /graphql");
            }
            throw e;
        }

        File baseDir = Files.createTempDirectory("openai-proxy-tomcat").toFile();
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(baseDir.getAbsolutePath());
        Connector connector = new LeanConnector();
        connector.setPort(options.port());
        connector.setProperty("address", options.host());
        // Bound at start, not init: only then can a stop close the listening socket first (GracefulStop).
        connector.setProperty("bindOnInit", "false");
        tune(connector);
        allowEncodedSlashes(connector);
        tomcat.setConnector(connector);
        ContainerPages.install((StandardHost) tomcat.getHost());
        Context context = tomcat.addContext("", baseDir.getAbsolutePath());
        if (context instanceof org.apache.catalina.core.StandardContext standard) {
            // One application in a JVM of its own, never redeployed: Tomcat's leak checks at stop have nothing to
            // find, and without --add-opens they only warn on every stop that they cannot look.
            standard.setClearReferencesThreadLocals(false);
            standard.setClearReferencesRmiTargets(false);
        }
        Wrapper servlet = Tomcat.addServlet(context, "openai-proxy", new OpenAiProxyServlet(engine));
        servlet.setAsyncSupported(true);
        context.addServletMappingDecoded("/*", "openai-proxy");
        ChatPage.install(context);
        HealthCheck.install(context);
        if (demo != null) {
            DemoMarker.install(context);
        }
        // A port another process holds must stop the start, not leave a server that listens nowhere.
        connector.setThrowOnFailure(true);
        StandaloneServer server = new StandaloneServer(
                tomcat, engine, demo, baseDir, sessions, access, telemetry, limitStore, gracePeriod);
        try {
            tomcat.start();
        } catch (LifecycleException e) {
            server.close();
            throw new IOException(
                    "could not listen on " + options.host() + ":" + options.port() + " (is another process using it?)",
                    e);
        }
        server.logStart(options, config);
        exposureWarning(options.host(), loopback, config, demo != null)
                .ifPresent(w -> LOG.log(System.Logger.Level.WARNING, w));
        return server;
    }

    /**
     * The names a loopback-bound server answers to: the usual ones, and the address it was told to bind
     * when that is another one ({@code HOST=127.0.0.2}), so requests addressed to it are not refused.
     */
    static List<String> loopbackNames(String host) {
        List<String> names = new ArrayList<>(AllowedHosts.LOOPBACK_NAMES);
        String literal = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        if (!names.contains(literal.toLowerCase(Locale.ROOT))) {
            names.add(literal.toLowerCase(Locale.ROOT));
        }
        return names;
    }

    /** Whether an address to bind is the loopback interface (a name is resolved, as Tomcat will). */
    static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** Whether the proxy spends keys of its own: the server key, or a named upstream's. */
    static boolean spendsOwnKeys(ProxyConfig config) {
        return config.keys().serverKey().isPresent() || config.upstreams().anyKeys();
    }

    /**
     * What to say when the server is reachable from other machines and spends a real key for whoever
     * calls: nothing authenticates callers (there are no proxy keys; CORS only stops browsers, and
     * {@code allowed-hosts} only stops DNS rebinding). Nothing on loopback, in demo mode (its key is
     * fake) or without a server key (callers bring their own).
     */
    static Optional<String> exposureWarning(String host, boolean loopback, ProxyConfig config, boolean demo) {
        // Demo mode only sends OPENAI_BASE_URL's calls to the fake upstream: named upstreams' keys are still spent.
        if (loopback || (demo && !config.upstreams().anyKeys()) || !spendsOwnKeys(config)) {
            return Optional.empty();
        }
        if (!config.allowedHosts().allowsAny()) {
            return Optional.of("openai-proxy listens on " + host + " with upstream keys: OPENAI_PROXY_ALLOWED_HOSTS"
                    + " stops DNS rebinding, not other callers. Anyone who reaches this address spends the key;"
                    + " keep it behind your authentication or firewall.");
        }
        String rule = "=".repeat(100);
        return Optional.of(String.join(
                "\n",
                "",
                rule,
                "WARNING: openai-proxy listens on " + host + ", reachable from other machines, and spends its"
                        + " upstream keys for anyone who calls it.",
                "Nothing restricts callers: CORS only stops browsers, and every Host name is answered (DNS rebinding).",
                "Fix it with one of:",
                "  HOST=127.0.0.1                                   listen on this machine only (the default)",
                "  OPENAI_PROXY_ALLOWED_HOSTS=proxy.example.com     answer only the names the proxy is reached by",
                "  OPENAI_PROXY_ALLOW_CLIENT_KEY=true, no OPENAI_API_KEY and no upstreams' keys   callers bring their own",
                "and keep it behind your authentication or firewall.",
                rule));
    }

    /**
     * JVM settings the proxy needs, set before anything reads them unless the command line chose (see
     * BENCHMARKS.md for the measurements behind them).
     *
     * <ul>
     *   <li>With two CPUs or fewer, {@code CompletableFuture}'s default executor starts a new thread for
     *       every task, and the JDK HttpClient runs one such task per request: a new thread per request.
     *       A common pool of two threads avoids it.
     *   <li>The JDK HttpClient keeps one read buffer per upstream connection, 16 KB by default; with one
     *       connection per open stream, 8 KB saves 40 MB of heap per 5,000 streams.
     * </ul>
     */
    static void tuneJvm(Properties system, int cpus) {
        if (cpus <= 2) {
            system.putIfAbsent("java.util.concurrent.ForkJoinPool.common.parallelism", "2");
        }
        system.putIfAbsent("jdk.httpclient.bufsize", "8192");
    }

    /**
     * Binds the TCP port H2 opens to share a database file between servers ({@code AUTO_SERVER=TRUE}, see
     * {@link SessionStorage#shared}) to loopback: H2 listens on every interface otherwise, and only
     * servers on this machine share the file. H2 reads {@code h2.bindAddress} once, when it loads, so this
     * runs before; a value set on the command line ({@code -Dh2.bindAddress=...}) is kept.
     */
    static void h2OnLoopback(Properties system) {
        system.putIfAbsent("h2.bindAddress", "127.0.0.1");
    }

    /**
     * Lets an encoded slash ({@code %2F}) reach the proxy, still encoded: openai-java sends a model id such as
     * {@code meta-llama/Llama-3.1-8B-Instruct} (OpenRouter, vLLM, Together) as {@code meta-llama%2FLlama-...}, which
     * Tomcat refuses by default. {@code passthrough}, not {@code decode}: Tomcat then maps the request with the
     * {@code %2F} left in, so {@code %2F..%2F} cannot reach another servlet or page; the proxy's router accepts an
     * encoded slash only inside a model id, whose every part must be a plain name.
     */
    static void allowEncodedSlashes(Connector connector) {
        connector.setEncodedSolidusHandling("passthrough");
    }

    /**
     * Connector settings for a proxy whose requests never block a thread (Servlet async with non-blocking
     * I/O) and whose clients keep connections open.
     */
    static void tune(Connector connector) {
        // Worker threads run short callbacks only: a small pool serves any number of open streams, and its
        // size does not follow the number of connections.
        int threads = Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
        connector.setProperty("maxThreads", Integer.toString(threads));
        connector.setProperty("minSpareThreads", Integer.toString(Math.min(threads, 4)));
        // Tomcat serves at most 8,192 connections by default and leaves the next ones waiting unanswered;
        // each open stream holds one. Allow as many as the heap can carry at about 50 KB each (see
        // BENCHMARKS.md): 16,384 with -Xmx1g, never fewer than Tomcat's default.
        connector.setProperty(
                "maxConnections",
                Integer.toString(maxConnections(Runtime.getRuntime().maxMemory())));
        // SDKs and browsers reuse connections; Tomcat's default closes each one after 100 requests.
        connector.setProperty("maxKeepAliveRequests", "-1");
        // Requests are small JSON: a 2 KB socket read buffer (default 8 KB) saves 6 KB twice per open
        // connection (Tomcat's header buffer is the header limit plus this). Large bodies are read in more
        // chunks: one read system call per 2 KB.
        connector.setProperty("socket.appReadBufSize", "2048");
        // The proxy's own response headers (CORS, content type, the few relayed upstream ones) stay far
        // below 4 KB; Tomcat keeps a buffer of this size per open connection (default 8 KB).
        connector.setProperty("maxHttpResponseHeaderSize", "4096");
        // The socket's write buffer (default 8 KB) is held per open connection too; events are far smaller,
        // and a larger write goes to the socket in pieces of this size.
        connector.setProperty("socket.appWriteBufSize", "4096");
        // Tomcat allocates a buffer for a chunked request's trailer headers on every connection, of this
        // size (default 8 KB); API clients send none, and the trailers of a request are never relayed.
        connector.setProperty("maxTrailerSize", "256");
        // A request or response used after its exchange ended must fail loudly (the facades are dropped
        // at recycle), never reach the next request on the same processor: Tomcat 11's default, set here
        // so that an older Tomcat or a changed default cannot bring the hazard back.
        connector.setDiscardFacades(true);
    }

    /** Open connections the connector allows for a heap of {@code maxHeapBytes}: 64 KB of heap each. */
    static int maxConnections(long maxHeapBytes) {
        return (int) Math.max(8192, Math.min(Integer.MAX_VALUE, maxHeapBytes / (64 * 1024)));
    }

    /** The port the server listens on. */
    public int port() {
        return tomcat.getConnector().getLocalPort();
    }

    /** The engine (its usage ledger, for tests). */
    ProxyEngine engine() {
        return engine;
    }

    /** The engine's configuration. */
    public ProxyConfig config() {
        return engine.config();
    }

    private void logStart(StandaloneOptions options, ProxyConfig config) {
        List<String> origins = new java.util.ArrayList<>(config.cors().allowedOrigins());
        origins.addAll(config.cors().allowedOriginPatterns());
        String keyMode = (config.keys().serverKey().isPresent()
                        ? "server key configured"
                        : spendsOwnKeys(config) ? "named upstreams' keys only" : "NO server key")
                + (config.keys().allowClientKey() ? ", x-openai-key accepted" : ", x-openai-key refused");
        if (demo != null) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "DEMO MODE: answers are canned by the bundled fake upstream at {0}; no OpenAI call is made."
                            + " Set OPENAI_API_KEY and run without --demo for the real API.",
                    demo.baseUrl());
        }
        LOG.log(
                System.Logger.Level.INFO,
                "openai-proxy listening on http://{0}:{1} | upstream {2} | origins {3} | hosts {4} | {5}",
                options.host(),
                Integer.toString(port()),
                config.upstream().baseUrl(),
                origins.isEmpty() ? "none (same-origin only)" : origins,
                config.allowedHosts().allowsAny() ? "any (set OPENAI_PROXY_ALLOWED_HOSTS)" : config.allowedHosts(),
                keyMode);
        LOG.log(System.Logger.Level.INFO, "chat page: http://localhost:{0}/chat/", Integer.toString(port()));
        LOG.log(System.Logger.Level.INFO, "chat sessions stored {0}", sessions.description());
        if (config.access().admin().enabled()) {
            LOG.log(
                    System.Logger.Level.INFO,
                    "admin API at {0} ({1} admin token(s){2}); keys and policies kept in the database",
                    config.access().admin().path(),
                    Integer.toString(config.access().admin().tokenHashes().size()),
                    config.access().admin().role() == null
                            ? ""
                            : ", role " + config.access().admin().role());
        }
        if (!spendsOwnKeys(config) && !config.keys().allowClientKey()) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "No OPENAI_API_KEY set: every call will answer 500 Configuration Error. Use --demo to try it offline.");
        }
    }

    /** Stops the server; a call while another closes it waits for that one, a later call does nothing. */
    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            awaitClosed();
            return;
        }
        try {
            stop();
        } finally {
            closed.countDown();
        }
    }

    /** Waits until {@link #close()} has finished. */
    void awaitClosed() {
        try {
            closed.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void stop() {
        if (tomcat.getServer().getState().isAvailable()
                && !gracePeriod.isZero()
                && !GracefulStop.drain(tomcat, gracePeriod)) {
            LOG.log(
                    System.Logger.Level.INFO,
                    "requests still under way after the grace period ({0}) are ended",
                    gracePeriod);
        }
        try {
            tomcat.stop();
            tomcat.destroy();
        } catch (LifecycleException e) {
            LOG.log(System.Logger.Level.WARNING, "stopping Tomcat failed", e);
        }
        engine.close();
        if (telemetry != null) {
            telemetry.close(); // after the engine: the last spans are exported
        }
        if (limitStore != null) {
            limitStore.close(); // after the engine, before the database pools it may use
        }
        access.close();
        sessions.close();
        if (demo != null) {
            demo.close();
        }
        deleteQuietly(baseDir);
        LOG.log(System.Logger.Level.INFO, "openai-proxy stopped");
    }

    private static void deleteQuietly(File dir) {
        File[] children = dir.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteQuietly(c);
            }
        }
        if (!dir.delete()) {
            dir.deleteOnExit();
        }
    }
}
