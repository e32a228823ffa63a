package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The side-by-side load benchmark: starts the stub upstream, nginx in front of it and the standalone
 * proxy in front of it, measures all three with the same load in one run, and writes BENCHMARKS.md.
 * Started by {@code benchmarks/run-load.sh}, which installs the tools and builds the jars first.
 *
 * <p>Options: {@code --quick}, {@code --proxy-jar=PATH} (required), {@code --out=BENCHMARKS.md},
 * {@code --work-dir=DIR}, {@code --proxy-java-opts="..."}, {@code --runs=N}, {@code --streams=1000,5000},
 * {@code --notes=FILE} (appended to the report).
 */
public final class LoadBenchmark {
    static final String DIRECT = "direct (stub)";
    static final String NGINX = "nginx";
    static final String PROXY_V1 = "proxy POST /v1/chat/completions";
    static final String PROXY_ROOT = "proxy POST / (normalized)";
    static final String PROXY = "proxy";
    static final String TOMCAT = "Tomcat alone (canned answer, no proxying)";
    static final String SPRING_V1 = "Spring Boot app POST /v1/chat/completions";
    static final String SPRING = "Spring Boot app";

    /** The proxy's JVM options unless --proxy-java-opts says otherwise (also documented in the README). */
    static final String DEFAULT_PROXY_JAVA_OPTS = "-Xms256m -Xmx1g -XX:+UseG1GC";

    final Settings settings;
    final Path work;
    final Path proxyJar;
    final Path springJar;
    final List<String> proxyJavaOpts;
    final Results results = new Results();

    JavaProcess stub;
    Nginx nginx;
    JavaProcess proxy;
    JavaProcess tomcatFloor;
    JavaProcess spring;
    Path benchJar;
    Wrk wrk;
    Path chatBody;
    Path simpleBody;

    LoadBenchmark(Settings settings, Path work, Path proxyJar, Path springJar, List<String> proxyJavaOpts) {
        this.settings = settings;
        this.work = work;
        this.proxyJar = proxyJar;
        this.springJar = springJar;
        this.proxyJavaOpts = proxyJavaOpts;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = Args.parse(args);
        Settings settings = Settings.of(opts);
        Path proxyJar =
                Path.of(opts.getOrDefault("proxy-jar", "examples/standalone/target/openai-proxy-standalone.jar"));
        if (!Files.isRegularFile(proxyJar)) {
            throw new IllegalArgumentException("no proxy jar at " + proxyJar + " (build it first)");
        }
        Path springJar = Path.of(
                opts.getOrDefault("spring-jar", "examples/spring-boot-app/target/openai-proxy-spring-boot-app.jar"));
        if (!Files.isRegularFile(springJar)) {
            throw new IllegalArgumentException("no Spring Boot app jar at " + springJar + " (build it first)");
        }
        Path work = opts.containsKey("work-dir")
                ? Files.createDirectories(Path.of(opts.get("work-dir")))
                : Files.createTempDirectory("openai-proxy-load");
        List<String> javaOpts = Arrays.stream(opts.getOrDefault("proxy-java-opts", DEFAULT_PROXY_JAVA_OPTS)
                        .strip()
                        .split("\\s+"))
                .filter(s -> !s.isEmpty())
                .toList();
        LoadBenchmark b = new LoadBenchmark(settings, work, proxyJar, springJar, javaOpts);
        long start = System.nanoTime();
        b.results.startedAt = ZonedDateTime.now();
        b.results.loadBefore = Procs.read(Path.of("/proc/loadavg"));
        // Stop what was started also when the run is interrupted (Ctrl-C, kill).
        Thread stopper = new Thread(() -> {
            try {
                b.stopAll();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Runtime.getRuntime().addShutdownHook(stopper);
        try {
            b.startAll();
            if ("streaming".equals(opts.get("only"))) {
                b.streamingOnly(); // a diagnosis: logged, no report written
                return;
            }
            b.measure();
        } finally {
            b.stopAll();
            Runtime.getRuntime().removeShutdownHook(stopper);
        }
        b.results.loadAfter = Procs.read(Path.of("/proc/loadavg"));
        b.results.elapsed = Duration.ofNanos(System.nanoTime() - start);
        Path out = Path.of(opts.getOrDefault("out", "BENCHMARKS.md"));
        String notes = opts.containsKey("notes") && Files.isRegularFile(Path.of(opts.get("notes")))
                ? Files.readString(Path.of(opts.get("notes")))
                : "";
        String report = new Report(b, opts.getOrDefault("command", "benchmarks/run-load.sh"), notes).render();
        Files.writeString(out, report);
        log("wrote " + out.toAbsolutePath() + " in " + b.results.elapsed.toSeconds() + " s (work dir " + work + ")");
        System.out.println(new Report(b, "", "").summary());
    }

    static void log(String s) {
        System.out.println("[load] " + s);
        System.out.flush();
    }

    // ---------------------------------------------------------------- processes

    void startAll() throws IOException, InterruptedException {
        // Run copies: a rebuild during the run must not change the classes a running JVM loads later.
        Path self = Files.copy(
                Path.of(LoadBenchmark.class
                                .getProtectionDomain()
                                .getCodeSource()
                                .getLocation()
                                .getPath())
                        .toAbsolutePath(),
                work.resolve("benchmarks.jar"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        benchJar = self;
        Path proxyJarCopy = Files.copy(
                proxyJar,
                work.resolve("openai-proxy-standalone.jar"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        chatBody = work.resolve("chat.json");
        simpleBody = work.resolve("simple-chat.json");
        Files.write(chatBody, StubBodies.chatRequest(false));
        Files.write(simpleBody, StubBodies.simpleChatRequest());
        Path lua = work.resolve("wrk-post.lua");
        try (InputStream in = LoadBenchmark.class.getResourceAsStream("wrk-post.lua")) {
            Files.write(lua, in.readAllBytes());
        }
        wrk = new Wrk(lua);

        int stubPort = Procs.freePort();
        log("starting the stub upstream on port " + stubPort);
        stub = JavaProcess.start(
                List.of("-Xms512m", "-Xmx1g", "-XX:+UseParallelGC"),
                List.of(
                        "-cp",
                        self.toString(),
                        StubUpstream.class.getName(),
                        "--port=" + stubPort,
                        "--threads=" + Runtime.getRuntime().availableProcessors()),
                Map.of(),
                stubPort,
                work.resolve("stub.log"),
                Duration.ofSeconds(30));

        log("starting nginx");
        nginx = Nginx.start(
                work.resolve("nginx"), stubPort, Runtime.getRuntime().availableProcessors());

        int proxyPort = Procs.freePort();
        List<String> cmd = new ArrayList<>();
        cmd.add("-jar");
        cmd.add(proxyJarCopy.toString());
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PORT", Integer.toString(proxyPort));
        env.put("HOST", "127.0.0.1");
        env.put("OPENAI_BASE_URL", "http://127.0.0.1:" + stubPort);
        env.put("OPENAI_API_KEY", "sk-benchmark-not-a-real-key-0000000000000000");
        // Thousands of streams from one address: no concurrency caps (names for ProxySettings and Spring).
        env.put("OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS", "0");
        env.put("OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT", "0");
        env.put("OPENAI_PROXY_LIMITS_MAXCONCURRENTUPSTREAMCALLS", "0");
        env.put("OPENAI_PROXY_LIMITS_MAXCONCURRENTUPSTREAMCALLSPERCLIENT", "0");
        results.proxyJavaOpts = String.join(" ", proxyJavaOpts);
        int springPort = Procs.freePort();
        int floorPort = Procs.freePort();
        log("starting the proxy on port " + proxyPort + ", the Spring Boot example app on port " + springPort
                + " (both with " + proxyJavaOpts + ") and Tomcat alone (the container's floor) on port " + floorPort);
        Path springJarCopy = Files.copy(
                springJar,
                work.resolve("openai-proxy-spring-boot-app.jar"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Map<String, String> springEnv = new LinkedHashMap<>(env);
        springEnv.put("PORT", Integer.toString(springPort));
        // The three JVMs start at once: their start-ups overlap instead of adding up.
        ExecutorService starter = Executors.newFixedThreadPool(3);
        try {
            Future<JavaProcess> proxyStart = starter.submit(() -> JavaProcess.start(
                    proxyJavaOpts, cmd, env, proxyPort, work.resolve("proxy.log"), Duration.ofSeconds(90)));
            Future<JavaProcess> springStart = starter.submit(() -> JavaProcess.start(
                    proxyJavaOpts,
                    List.of(
                            "-jar",
                            springJarCopy.toString(),
                            // Its own H2 file in the work directory; the app's defaults otherwise.
                            "--spring.datasource.url=jdbc:h2:file:" + work.resolve("spring-sessions")
                                    + ";DB_CLOSE_ON_EXIT=FALSE"),
                    springEnv,
                    springPort,
                    work.resolve("spring-boot-app.log"),
                    Duration.ofSeconds(120)));
            Future<JavaProcess> floorStart = starter.submit(() -> JavaProcess.start(
                    proxyJavaOpts,
                    List.of("-cp", self.toString(), TomcatFloor.class.getName(), "--port=" + floorPort),
                    Map.of(),
                    floorPort,
                    work.resolve("tomcat-floor.log"),
                    Duration.ofSeconds(90)));
            // Keep every process that did start, so stopAll stops it even when another failed.
            proxy = started(proxyStart);
            spring = started(springStart);
            tomcatFloor = started(floorStart);
            if (proxy == null || spring == null || tomcatFloor == null) {
                throw new IllegalStateException("a server did not start; see the logs in " + work);
            }
        } finally {
            starter.shutdown();
        }
    }

    private static JavaProcess started(Future<JavaProcess> start) throws InterruptedException {
        try {
            return start.get();
        } catch (ExecutionException e) {
            log("start failed: " + e.getCause());
            return null;
        }
    }

    synchronized void stopAll() throws InterruptedException {
        for (AutoCloseable c : new AutoCloseable[] {tomcatFloor, spring, proxy, nginx, stub}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    log("stopping failed: " + e);
                }
            }
        }
    }

    InetSocketAddress address(String target) {
        int port = switch (target) {
            case DIRECT -> stub.port();
            case NGINX -> nginx.port();
            case TOMCAT -> tomcatFloor.port();
            case SPRING, SPRING_V1 -> spring.port();
            default -> proxy.port();
        };
        return new InetSocketAddress("127.0.0.1", port);
    }

    String url(String target) {
        InetSocketAddress a = address(target);
        String path = target.equals(PROXY_ROOT) ? "/" : "/v1/chat/completions";
        return "http://127.0.0.1:" + a.getPort() + path;
    }

    Path body(String target) {
        return target.equals(PROXY_ROOT) ? simpleBody : chatBody;
    }

    // ---------------------------------------------------------------- measurements

    void measure() throws Exception {
        warmUp();
        List<String> wrkTargets = List.of(DIRECT, NGINX, PROXY_V1, PROXY_ROOT, SPRING_V1, TOMCAT);
        for (int run = 1; run <= settings.runs(); run++) {
            log("run " + run + "/" + settings.runs() + ": throughput at " + settings.connections() + " connections");
            for (String t : wrkTargets) {
                results.throughput.computeIfAbsent(t, k -> new ArrayList<>()).add(throughput(t, run));
            }
            results.clientFloor.add(httpClientFloor(settings.connections(), settings.wrkDuration()));
            log("run " + run + ": latency at one connection");
            for (String t : wrkTargets) {
                settle();
                Wrk.Result r = wrk.run(url(t), body(t), 1, 1, settings.latencyDuration());
                results.latency.computeIfAbsent(t, k -> new ArrayList<>()).add(r);
                log(String.format("  %-34s p50 %6d us  p99 %6d us  errors %d", t, r.p50Us(), r.p99Us(), r.errors()));
            }
            if (!quick()) { // a second JVM start and warm-up, for a row quick mode can do without
                results.clientFloorLatency.add(httpClientFloor(1, settings.latencyDuration()));
            }
            log("run " + run + ": streaming latency");
            for (String t : fullOnlySpring(List.of(DIRECT, NGINX, PROXY), SPRING)) {
                results.streaming.computeIfAbsent(t, k -> new ArrayList<>()).add(streaming(t));
            }
            log("run " + run + ": 20 MiB response");
            for (String t : fullOnlySpring(List.of(DIRECT, NGINX, PROXY), SPRING)) {
                results.image.computeIfAbsent(t, k -> new ArrayList<>()).add(image(t));
            }
            results.heapGrowthKib.add(imageHeapGrowth());
        }
        concurrentStreams();
    }

    /**
     * {@code --only=streaming}: the streaming latency alone, each run, after half the warm-up's load on {@code /v1}
     * and two rounds of streams through the proxy.
     */
    void streamingOnly() throws Exception {
        wrk.run(
                url(PROXY_V1),
                body(PROXY_V1),
                settings.wrkThreads(),
                settings.connections(),
                settings.warmup().dividedBy(2));
        streaming(PROXY);
        streaming(PROXY);
        for (int run = 1; run <= settings.runs(); run++) {
            log("run " + run + "/" + settings.runs() + ": streaming latency");
            for (String t : List.of(DIRECT, NGINX, PROXY)) {
                streaming(t);
            }
        }
    }

    private boolean quick() {
        return settings.mode().equals("quick");
    }

    /** The targets, plus the Spring Boot app except in quick mode (which must stay within a minute). */
    private List<String> fullOnlySpring(List<String> targets, String spring) {
        List<String> all = new ArrayList<>(targets);
        if (!quick()) {
            all.add(spring);
        }
        return all;
    }

    void warmUp() throws Exception {
        log("warming up the proxy for " + settings.warmup().toSeconds() + " s");
        Duration half = settings.warmup().dividedBy(2);
        wrk.run(url(PROXY_V1), body(PROXY_V1), settings.wrkThreads(), settings.connections(), half);
        wrk.run(url(PROXY_ROOT), body(PROXY_ROOT), settings.wrkThreads(), settings.connections(), half);
        wrk.run(url(TOMCAT), body(TOMCAT), settings.wrkThreads(), settings.connections(), half);
        if (!quick()) {
            wrk.run(url(SPRING_V1), body(SPRING_V1), settings.wrkThreads(), settings.connections(), half);
        }
        // The other paths once, so the JIT has seen them: streams through every target, a large body.
        streaming(PROXY);
        image(PROXY);
        if (!quick()) {
            streaming(SPRING);
            image(SPRING);
        }
    }

    Results.Throughput throughput(String target, int run) throws Exception {
        long totalBefore = totalBusyMillis();
        long stubBefore = stub.cpuMillis();
        long nginxBefore = nginx.cpuMillis();
        long proxyBefore = proxy.cpuMillis();
        long floorBefore = tomcatFloor.cpuMillis();
        long springBefore = spring.cpuMillis();
        Map<String, Long> threadsBefore = Procs.cpuMillisByThreadGroup(proxy.pid());
        Wrk.Result r = wrk.run(
                url(target), body(target), settings.wrkThreads(), settings.connections(), settings.wrkDuration());
        Results.Throughput t = new Results.Throughput();
        t.wrk = r;
        t.stubCpu = stub.cpuMillis() - stubBefore;
        t.nginxCpu = nginx.cpuMillis() - nginxBefore;
        t.proxyCpu = proxy.cpuMillis() - proxyBefore;
        t.totalCpu = totalBusyMillis() - totalBefore;
        t.floorCpu = tomcatFloor.cpuMillis() - floorBefore;
        t.springCpu = spring.cpuMillis() - springBefore;
        if (target.startsWith("proxy")) {
            Map<String, Long> after = Procs.cpuMillisByThreadGroup(proxy.pid());
            after.forEach((g, ms) -> t.proxyThreads.put(g, ms - threadsBefore.getOrDefault(g, 0L)));
        }
        log(String.format(
                "  %-34s %8.0f req/s  p50 %6d us  p99 %6d us  errors %d  cpu/req: wrk %.0f stub %.0f nginx %.0f proxy"
                        + " %.0f other %.0f us",
                target,
                r.rps(),
                r.p50Us(),
                r.p99Us(),
                r.errors(),
                t.perRequestMicros(r.cpuMillis()),
                t.perRequestMicros(t.stubCpu),
                t.perRequestMicros(t.nginxCpu),
                t.perRequestMicros(t.serverCpu()),
                t.perRequestMicros(t.otherCpu())));
        return t;
    }

    /** The proxy's upstream client alone against the stub, in its own JVM: its CPU per request. */
    Results.ClientFloor httpClientFloor(int connections, Duration duration) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(proxyJavaOpts);
        // The settings StandaloneServer gives its JVM, so the client runs as it does in the proxy.
        if (Runtime.getRuntime().availableProcessors() <= 2) {
            cmd.add("-Djava.util.concurrent.ForkJoinPool.common.parallelism=2");
        }
        cmd.add("-Djdk.httpclient.bufsize=8192");
        cmd.addAll(List.of(
                "-cp",
                benchJar.toString(),
                HttpClientFloor.class.getName(),
                "--port=" + stub.port(),
                "--connections=" + connections,
                "--warmup=" + Math.max(2, duration.toSeconds() / 2),
                "--seconds=" + duration.toSeconds()));
        long stubBefore = stub.cpuMillis();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        p.waitFor();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                        "FLOOR_RESULT requests=(\\d+) failed=(\\d+) cpu_ms=(\\d+) seconds=([\\d.]+) p50_us=(\\d+)"
                                + " p99_us=(\\d+)")
                .matcher(out);
        if (!m.find()) {
            throw new IllegalStateException("no result from the HttpClient floor: " + out);
        }
        Results.ClientFloor f = new Results.ClientFloor();
        f.requests = Long.parseLong(m.group(1));
        f.failed = Long.parseLong(m.group(2));
        f.cpuMillis = Long.parseLong(m.group(3));
        f.seconds = Double.parseDouble(m.group(4));
        f.p50Us = Long.parseLong(m.group(5));
        f.p99Us = Long.parseLong(m.group(6));
        f.stubCpuMillis = stub.cpuMillis() - stubBefore;
        log(String.format(
                "  %-34s %8.0f req/s  p50 %6d us  p99 %6d us  cpu/req: client %.1f us (%d failed)",
                "upstream client alone, " + connections + " in flight",
                f.requests / f.seconds,
                f.p50Us,
                f.p99Us,
                f.perRequestMicros(),
                f.failed));
        return f;
    }

    /** Busy CPU time of the whole machine (all processes, all cores) from /proc/stat, in milliseconds. */
    /**
     * Waits, at most 15 s, until the machine is quiet (under a tenth of one core busy over half a second),
     * so every target's latency is timed from the same state instead of inheriting the JIT compilation
     * and GC that the previous load left running in some JVM (five JVMs share two cores here, and a JVM's
     * compiler can stay busy for seconds after its load ends).
     */
    static void settle() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            long before = totalBusyMillis();
            Thread.sleep(500);
            if (totalBusyMillis() - before < 50) {
                return;
            }
        }
        log("  (the machine did not settle within 15 s; measuring anyway)");
    }

    static long totalBusyMillis() {
        String stat = Procs.read(Path.of("/proc/stat"));
        String[] f = stat.lines().findFirst().orElseThrow().trim().split("\\s+");
        long busy = 0;
        for (int i = 1; i < f.length && i <= 8; i++) {
            if (i != 4 && i != 5) { // idle, iowait
                busy += Long.parseLong(f[i]);
            }
        }
        return busy * 10;
    }

    Results.Streaming streaming(String target) throws InterruptedException {
        settle();
        InetSocketAddress to = address(target);
        byte[] req = SseClient.request(
                to,
                "/v1/chat/completions?events=" + settings.sseEvents() + "&pause_ms=" + settings.ssePauseMs(),
                StubBodies.chatRequest(true),
                true);
        // Keep-alive connections, as SDKs and browsers use them; each connection's first stream also pays
        // for the new connection and is left out of the timings (but not out of the checks).
        int perConnection = (settings.sseStreams() + settings.sseConcurrency() - 1) / settings.sseConcurrency() + 1;
        List<SseClient.Stream> streams = new ArrayList<>();
        try (SseClient client = new SseClient()) {
            for (int c = 0; c < settings.sseConcurrency(); c++) {
                streams.addAll(client.openSequence(to, req, perConnection, settings.sseEvents()));
                // Spread the connections so their events do not all fall at the same instants.
                Thread.sleep(Math.max(1, settings.ssePauseMs() / settings.sseConcurrency()));
            }
            long deadline = System.nanoTime()
                    + Duration.ofMillis((long) settings.sseEvents() * settings.ssePauseMs() + 5000)
                            .multipliedBy(perConnection)
                            .toNanos();
            while (client.finished() < streams.size() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        }
        Results.Streaming s = new Results.Streaming();
        List<Long> ttfe = new ArrayList<>();
        List<Long> delays = new ArrayList<>();
        for (SseClient.Stream st : streams) {
            s.streams++;
            if (st.receivedAll()) {
                s.complete++;
            } else if (s.firstProblem == null) {
                s.firstProblem = "status " + st.status + ", events " + st.events + ", error " + st.error;
            }
            s.events += st.events;
            s.split += st.split;
            s.coalesced += st.coalesced;
            if (st.firstOnConnection) {
                continue;
            }
            if (st.firstEventAt != 0) {
                ttfe.add(st.timeToFirstEventNanos());
            }
            for (long d : st.delays()) {
                delays.add(d);
            }
        }
        s.ttfeNanos = ttfe.stream().mapToLong(Long::longValue).toArray();
        s.delayNanos = delays.stream().mapToLong(Long::longValue).toArray();
        // The tail by name: a p99 of 300 streams is the third slowest, so the log shows the five slowest, each with
        // the wall-clock time its request was sent (to line up with a GC log, for one).
        long nanoNow = System.nanoTime();
        long millisNow = System.currentTimeMillis();
        String slowest = streams.stream()
                .filter(st -> !st.firstOnConnection && st.firstEventAt != 0)
                .sorted(java.util.Comparator.comparingLong(SseClient.Stream::timeToFirstEventNanos)
                        .reversed())
                .limit(5)
                .map(st -> String.format(
                        Locale.ROOT,
                        "%.2f ms at %s",
                        st.timeToFirstEventNanos() / 1e6,
                        java.time.LocalTime.ofInstant(
                                java.time.Instant.ofEpochMilli(millisNow - (nanoNow - st.sentAt) / 1_000_000),
                                java.time.ZoneId.systemDefault())))
                .toList()
                .toString();
        log(String.format(
                "  %-34s first event p50 %.2f ms p99 %.2f ms, event delay p50 %.3f ms p99 %.3f ms, %d/%d streams"
                        + " complete, split %d, coalesced %d; slowest first events %s",
                target,
                Stats.percentile(s.ttfeNanos, 50) / 1e6,
                Stats.percentile(s.ttfeNanos, 99) / 1e6,
                Stats.percentile(s.delayNanos, 50) / 1e6,
                Stats.percentile(s.delayNanos, 99) / 1e6,
                s.complete,
                s.streams,
                s.split,
                s.coalesced,
                slowest));
        return s;
    }

    Results.Image image(String target) throws IOException {
        BigBodyClient.Result r =
                BigBodyClient.fetch(address(target), "/v1/images/generations", StubBodies.imageRequest(), -1, () -> {});
        Results.Image i = new Results.Image();
        i.status = r.status();
        i.bytes = r.bytes();
        i.intact = r.status() == 200 && r.bytes() == results.imageBytes() && r.crc() == results.imageCrc();
        i.nanos = r.nanos();
        log(String.format(
                "  %-34s %d bytes in %.1f ms (%s)",
                target, r.bytes(), r.nanos() / 1e6, i.intact ? "intact" : "CORRUPT status " + r.status()));
        return i;
    }

    /** The proxy's live heap while it relays a 20 MiB body to a client that stopped reading, minus before. */
    long imageHeapGrowth() throws IOException {
        long before = Procs.heapAfterGcKib(proxy.pid());
        long[] during = {0};
        BigBodyClient.Result r = BigBodyClient.fetch(
                address(PROXY), "/v1/images/generations", StubBodies.imageRequest(), 4L * 1024 * 1024, () -> {
                    try {
                        Thread.sleep(1000); // let every buffer on the way fill up
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    during[0] = Procs.heapAfterGcKib(proxy.pid());
                });
        boolean intact = r.status() == 200 && r.bytes() == results.imageBytes() && r.crc() == results.imageCrc();
        long growth = during[0] - before;
        log(String.format(
                "  proxy heap after GC: %d KiB before, %d KiB with a paused 20 MiB relay in flight: %+d KiB (%s)",
                before, during[0], growth, intact ? "body intact" : "BODY CORRUPT"));
        if (!intact) {
            results.imageCorrupt = true;
        }
        return growth;
    }

    void concurrentStreams() throws InterruptedException {
        log("concurrent streams: " + Arrays.toString(settings.concurrentSteps()) + ", " + settings.concurrentEvents()
                + " events 1 s apart");
        results.concurrent.add(sample(0));
        InetSocketAddress to = address(PROXY);
        byte[] req = SseClient.request(
                to,
                "/v1/chat/completions?events=" + settings.concurrentEvents() + "&pause_ms=1000",
                StubBodies.chatRequest(true));
        List<SseClient.Stream> streams = new ArrayList<>();
        long began = System.nanoTime();
        try (SseClient client = new SseClient()) {
            for (int step : settings.concurrentSteps()) {
                long batchStart = System.nanoTime();
                int toOpen = step - streams.size();
                for (int i = 0; i < toOpen; i++) {
                    streams.add(client.open(to, req, settings.concurrentEvents(), false));
                    long due = batchStart + (long) (i + 1) * 1_000_000_000L / settings.openRate();
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (System.nanoTime() < deadline && receiving(streams) < streams.size()) {
                    Thread.sleep(50);
                }
                Thread.sleep(1000);
                Results.Sample s = sample(streams.size());
                s.receiving = receiving(streams);
                s.ended = client.finished();
                results.concurrent.add(s);
            }
            long deadline = System.nanoTime()
                    + Duration.ofSeconds(settings.concurrentEvents() + 60).toNanos();
            while (client.finished() < streams.size() && System.nanoTime() < deadline) {
                Thread.sleep(200);
            }
        }
        Results.Concurrent c = results.concurrentOutcome;
        c.seconds = (System.nanoTime() - began) / 1e9;
        for (SseClient.Stream st : streams) {
            c.streams++;
            c.events += st.events;
            c.split += st.split;
            c.coalesced += st.coalesced;
            if (st.receivedAll()) {
                c.complete++;
            } else if (c.problems.size() < 5) {
                c.problems.add("status " + st.status + ", " + st.events + " events, error " + st.error);
            }
        }
        log(String.format(
                "  %d/%d streams received all %d events (%d events in all, split %d, coalesced %d)%s",
                c.complete,
                c.streams,
                settings.concurrentEvents() + 1,
                c.events,
                c.split,
                c.coalesced,
                c.problems.isEmpty() ? "" : "; problems: " + c.problems));
    }

    private static int receiving(List<SseClient.Stream> streams) {
        int n = 0;
        for (SseClient.Stream s : streams) {
            if (s.events > 0 || s.ended) {
                n++;
            }
        }
        return n;
    }

    Results.Sample sample(int streams) {
        Results.Sample s = new Results.Sample();
        s.streams = streams;
        s.heapKib = Procs.heapAfterGcKib(proxy.pid());
        s.rssKib = Procs.status(proxy.pid(), "VmRSS");
        s.threads = Procs.status(proxy.pid(), "Threads");
        s.fds = Procs.openFiles(proxy.pid());
        log(String.format(
                "  %5d streams: proxy heap after GC %.1f MiB, RSS %.1f MiB, %d threads, %d fds",
                streams, s.heapKib / 1024.0, s.rssKib / 1024.0, s.threads, s.fds));
        return s;
    }
}
