package io.github.openaiproxy.benchmarks.load;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Core's two upstream clients side by side: two standalone proxies in front of one stub, one on Jetty's
 * client and one on the JDK's ({@code OPENAI_PROXY_UPSTREAM_CLIENT}), measured in alternation so both see
 * the same machine, after three warm-up rounds: throughput and CPU per request (wrk, 64 connections,
 * {@code POST /v1/chat/completions}), and the time to a stream's first event over keep-alive connections,
 * on five connections with the stub pausing 10 ms between events (the proxy idles between streams, as in
 * the load benchmark) and on one connection with streams back to back.
 *
 * <p>{@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.ClientAb
 * --proxy-jar=examples/standalone/target/openai-proxy-standalone.jar [--rounds=5] [--seconds=10]}
 */
public final class ClientAb {
    private static final String[] CLIENTS = {"jetty", "jdk"};
    /** Enough for the JIT to settle in both proxies (their CPU per request stops falling). */
    private static final int WARM_UP_ROUNDS = 3;

    private ClientAb() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = Args.parse(args);
        Path proxyJar = Path.of(o.get("proxy-jar"));
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "5"));
        Duration seconds = Duration.ofSeconds(Long.parseLong(o.getOrDefault("seconds", "10")));
        Path work = Files.createTempDirectory("client-ab");
        Path self = Path.of(ClientAb.class
                .getProtectionDomain()
                .getCodeSource()
                .getLocation()
                .toURI());
        Path body = work.resolve("chat.json");
        Files.write(body, StubBodies.chatRequest(false));
        Path lua = work.resolve("wrk-post.lua");
        try (InputStream in = ClientAb.class.getResourceAsStream("wrk-post.lua")) {
            Files.write(lua, in.readAllBytes());
        }
        Wrk wrk = new Wrk(lua);
        int cores = Runtime.getRuntime().availableProcessors();
        int stubPort = Procs.freePort();
        Map<String, JavaProcess> proxies = new LinkedHashMap<>();
        try (JavaProcess stub = JavaProcess.start(
                List.of("-Xms512m", "-Xmx1g", "-XX:+UseParallelGC"),
                List.of(
                        "-cp",
                        self.toString(),
                        StubUpstream.class.getName(),
                        "--port=" + stubPort,
                        "--threads=" + cores),
                Map.of(),
                stubPort,
                work.resolve("stub.log"),
                Duration.ofSeconds(30))) {
            for (String client : CLIENTS) {
                int port = Procs.freePort();
                proxies.put(
                        client,
                        JavaProcess.start(
                                List.of(LoadBenchmark.DEFAULT_PROXY_JAVA_OPTS.split(" ")),
                                List.of("-jar", proxyJar.toString()),
                                Map.of(
                                        "PORT",
                                        Integer.toString(port),
                                        "HOST",
                                        "127.0.0.1",
                                        "OPENAI_BASE_URL",
                                        "http://127.0.0.1:" + stubPort,
                                        "OPENAI_API_KEY",
                                        "sk-benchmark-not-a-real-key-0000000000000000",
                                        "OPENAI_PROXY_SESSIONS_STORE",
                                        "memory",
                                        "OPENAI_PROXY_UPSTREAM_CLIENT",
                                        client),
                                port,
                                work.resolve("proxy-" + client + ".log"),
                                Duration.ofSeconds(60)));
            }
            Map<String, List<Wrk.Result>> load = new LinkedHashMap<>();
            Map<String, List<Double>> cpu = new LinkedHashMap<>();
            Map<String, List<Long>> idle = new LinkedHashMap<>();
            Map<String, List<Long>> backToBack = new LinkedHashMap<>();
            for (String client : CLIENTS) {
                load.put(client, new ArrayList<>());
                cpu.put(client, new ArrayList<>());
                idle.put(client, new ArrayList<>());
                backToBack.put(client, new ArrayList<>());
            }
            for (int round = -WARM_UP_ROUNDS; round < rounds; round++) { // negative rounds warm both up
                for (String client : CLIENTS) {
                    JavaProcess proxy = proxies.get(client);
                    String url = "http://127.0.0.1:" + proxy.port() + "/v1/chat/completions";
                    long before = proxy.cpuMillis();
                    Wrk.Result r = wrk.run(url, body, 2, 64, seconds);
                    double cpuPerRequest = (proxy.cpuMillis() - before) * 1000.0 / r.requests();
                    List<Long> paused = firstEvents(proxy.port(), 10, 5, 5, 21);
                    List<Long> hot = firstEvents(proxy.port(), 0, 1, 1, 301);
                    if (round >= 0) {
                        load.get(client).add(r);
                        cpu.get(client).add(cpuPerRequest);
                        idle.get(client).addAll(paused);
                        backToBack.get(client).addAll(hot);
                    }
                    System.out.printf(
                            Locale.ROOT,
                            "[ab] round %d %-5s %8.0f req/s  cpu/req %.1f us  first event p50 %.3f ms (paused), %.3f ms"
                                    + " (back to back)%n",
                            round,
                            client,
                            r.rps(),
                            cpuPerRequest,
                            median(paused) / 1e6,
                            median(hot) / 1e6);
                }
            }
            System.out.println();
            System.out.println("| client | req/s (median) | proxy CPU per request | first event p50 / p90 / p99, paused"
                    + " 10 ms between events, 5 connections | first event p50 / p99, back to back, 1 connection |");
            System.out.println("|---|---|---|---|---|");
            for (String client : CLIENTS) {
                System.out.printf(
                        Locale.ROOT,
                        "| %s | %.0f | %.1f us | %s / %s / %s ms | %s / %s ms |%n",
                        client,
                        Stats.median(load.get(client), Wrk.Result::rps),
                        Stats.median(cpu.get(client), Double::doubleValue),
                        ms(idle.get(client), 50),
                        ms(idle.get(client), 90),
                        ms(idle.get(client), 99),
                        ms(backToBack.get(client), 50),
                        ms(backToBack.get(client), 99));
            }
        } finally {
            for (JavaProcess p : proxies.values()) {
                p.close();
            }
        }
    }

    /**
     * Times to the first event of {@code connections x (perConnection - 1)} streams: keep-alive connections,
     * each opening {@code perConnection} streams in a row (the first, which also connects, is left out).
     */
    private static List<Long> firstEvents(int port, int pauseMs, int events, int connections, int perConnection)
            throws InterruptedException {
        InetSocketAddress to = new InetSocketAddress("127.0.0.1", port);
        byte[] request = SseClient.request(
                to,
                "/v1/chat/completions?events=" + events + "&pause_ms=" + pauseMs,
                StubBodies.chatRequest(true),
                true);
        List<SseClient.Stream> streams = new ArrayList<>();
        try (SseClient client = new SseClient()) {
            for (int c = 0; c < connections; c++) {
                streams.addAll(client.openSequence(to, request, perConnection, events));
                Thread.sleep(Math.max(1, pauseMs / connections));
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (client.finished() < streams.size() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        }
        List<Long> times = new ArrayList<>();
        for (SseClient.Stream s : streams) {
            if (!s.firstOnConnection && s.firstEventAt != 0) {
                times.add(s.timeToFirstEventNanos());
            }
        }
        return times;
    }

    private static double median(List<Long> nanos) {
        return Stats.percentile(nanos.stream().mapToLong(Long::longValue).toArray(), 50);
    }

    private static String ms(List<Long> nanos, double p) {
        return String.format(
                Locale.ROOT,
                "%.3f",
                Stats.percentile(nanos.stream().mapToLong(Long::longValue).toArray(), p) / 1e6);
    }
}
