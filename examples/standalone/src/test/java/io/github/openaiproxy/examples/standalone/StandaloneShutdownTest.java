package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.github.openaiproxy.testkit.TestRedis;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The standalone server stopped as an orchestrator stops it: a process of its own sent SIGTERM, with the default
 * database (an H2 file). The usage ledger's queue is written (README's promise), requests in flight end cleanly and
 * in bounded time (a stream that would never end included) with their usage recorded and their leases given back,
 * and what goes wrong during the stop reaches the log. In process, {@link StandaloneServer#close()} closes the limit
 * store it made.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class StandaloneShutdownTest {
    private static final String CHAT_COMPLETION = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
            + "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
            + "{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":1,\"total_tokens\":9}}";
    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

    final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    /** What the server process printed. */
    final StringBuffer logs = new StringBuffer();

    final CountDownLatch streaming = new CountDownLatch(1);
    final CountDownLatch slowCall = new CountDownLatch(1);
    final CountDownLatch releaseUpstream = new CountDownLatch(1);
    ExecutorService upstreamThreads;
    HttpServer upstream;
    Process server;
    /** Reads the server's output until it ends. */
    Thread output;

    @TempDir
    Path dir;

    @BeforeEach
    void startUpstream() throws IOException {
        upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        upstreamThreads = Executors.newFixedThreadPool(8);
        upstream.setExecutor(upstreamThreads);
        upstream.createContext("/", ex -> {
            String request = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            if (request.contains("\"stream\":true")) {
                // One event, then nothing until the test ends: a stream that never ends by itself.
                ex.getResponseHeaders().add("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                ex.getResponseBody()
                        .write(("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
                                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")
                                .getBytes(StandardCharsets.UTF_8));
                ex.getResponseBody().flush();
                streaming.countDown();
                awaitQuietly(releaseUpstream);
                ex.close();
                return;
            }
            if (request.contains("slow")) {
                // A long completion: its headers come when it is done.
                slowCall.countDown();
                awaitQuietly(releaseUpstream);
            }
            byte[] body = CHAT_COMPLETION.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        upstream.start();
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (server != null && server.isAlive()) {
            server.destroyForcibly().waitFor(20, TimeUnit.SECONDS);
        }
        releaseUpstream.countDown();
        upstream.stop(0);
        upstreamThreads.shutdownNow();
    }

    /**
     * SIGTERM while a long completion and a stream are under way: the server stops listening at once (a load
     * balancer's next connection goes elsewhere), both requests finish within the grace period (the completion whole,
     * the stream to its last chunk), and the process then exits without waiting out the rest of the period. Nothing
     * is written to the ledger before the stop, so the usage rows there, of the requests answered before SIGTERM and
     * of the two that finished after it, are the queue the stop wrote to the default H2 file (README's promise).
     */
    @Test
    void aSigtermLetsTheRequestsUnderWayFinishWithinTheGracePeriodAndWritesTheQueuedUsage() throws Exception {
        int port = start(Map.of(
                "OPENAI_PROXY_SHUTDOWN_GRACE_PERIOD", "40s",
                "OPENAI_PROXY_LEDGER_STORE", "jdbc",
                // Nothing is written before the stop: every record is still queued when SIGTERM comes.
                "OPENAI_PROXY_LEDGER_FLUSH_INTERVAL", "1h",
                "OPENAI_PROXY_LEDGER_BATCH_SIZE", "10000"));
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> r = chat(port, CHAT);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        try (Socket stream = new Socket(InetAddress.getLoopbackAddress(), port);
                Socket completion = new Socket(InetAddress.getLoopbackAddress(), port)) {
            post(
                    stream,
                    port,
                    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                            + "\"content\":\"Hi\"}]}");
            post(
                    completion,
                    port,
                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"slow\"}]}");
            assertThat(streaming.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(slowCall.await(30, TimeUnit.SECONDS)).isTrue();

            long started = System.nanoTime();
            assertThat(server.toHandle().destroy()).isTrue();
            Awaitility.await("no longer listening")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> !accepts(port));
            assertThat(server.isAlive())
                    .as("waiting for the requests under way")
                    .isTrue();
            releaseUpstream.countDown();

            assertThat(readAll(completion)).startsWith("HTTP/1.1 200").contains("\"content\":\"Hi\"");
            String streamed = readAll(stream);
            assertThat(streamed).startsWith("HTTP/1.1 200").contains("\"content\":\"Hel\"");
            assertThat(streamed).as("the chunked body's last chunk").endsWith("0\r\n\r\n");
            sigtermEnded();
            assertThat(Duration.ofNanos(System.nanoTime() - started))
                    .as("not the whole grace period")
                    .isLessThan(Duration.ofSeconds(30));
        }
        assertThat(count("openai_proxy_usage"))
                .as("usage rows; the server logged:%n%s", logs)
                .isEqualTo(7);
    }

    /**
     * SIGTERM with a stream that would never end and a long completion in flight: once the grace period is over the
     * server is gone within seconds; neither client is handed an answer that looks complete (the stream's chunked body has no last chunk,
     * the completion gets no body); both requests are in the ledger and their concurrency leases are given back.
     */
    @Test
    void aSigtermWithAStreamAndACompletionInFlightEndsThemCleanlyInBoundedTime() throws Exception {
        int port = start(Map.of(
                "OPENAI_PROXY_LEDGER_STORE", "jdbc",
                "OPENAI_PROXY_LIMITS_STORE", "jdbc",
                "OPENAI_PROXY_POLICIES_ANONYMOUS_CONCURRENT_REQUESTS", "5",
                "OPENAI_PROXY_SHUTDOWN_GRACE_PERIOD", "1s"));
        try (Socket stream = new Socket(InetAddress.getLoopbackAddress(), port);
                Socket completion = new Socket(InetAddress.getLoopbackAddress(), port)) {
            post(
                    stream,
                    port,
                    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                            + "\"content\":\"Hi\"}]}");
            post(
                    completion,
                    port,
                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"slow\"}]}");
            assertThat(streaming.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(slowCall.await(30, TimeUnit.SECONDS)).isTrue();
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> count("openai_proxy_limit_leases") == 2);

            long started = System.nanoTime();
            sigterm();
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(20));

            String streamed = readAll(stream);
            assertThat(streamed).startsWith("HTTP/1.1 200").contains("\"content\":\"Hel\"");
            assertThat(streamed).as("a chunked body without its last chunk").doesNotEndWith("0\r\n\r\n");
            assertThat(readAll(completion))
                    .as("no answer rather than a cut one")
                    .isEmpty();
        }
        assertThat(count("openai_proxy_usage"))
                .as("usage rows; the server logged:%n%s", logs)
                .isEqualTo(2);
        assertThat(count("openai_proxy_limit_leases")).as("leases left").isZero();
    }

    /**
     * What the server logs while it stops reaches its output: java.util.logging's own shutdown hook resets the log,
     * and the JVM runs shutdown hooks all at once, so a line logged by the server's hook was dropped; a ledger that
     * could not write its queue said so to no one. Here its table is gone when SIGTERM comes.
     */
    @Test
    void whatGoesWrongWhileStoppingIsLogged() throws Exception {
        int port = start(Map.of(
                "OPENAI_PROXY_LEDGER_STORE", "jdbc",
                "OPENAI_PROXY_LEDGER_FLUSH_INTERVAL", "1h",
                "OPENAI_PROXY_LEDGER_BATCH_SIZE", "10000"));
        for (int i = 0; i < 3; i++) {
            assertThat(chat(port, CHAT).statusCode()).isEqualTo(200);
        }
        try (Connection c = DriverManager.getConnection(h2Url(), "sa", "")) {
            c.createStatement().execute("DROP TABLE openai_proxy_usage");
        }

        sigterm();

        assertThat(logs.toString()).contains("usage ledger: a batch of 3 records could not be written; lost");
    }

    @Test
    void closeClosesTheRedisLimitStoreItMade() throws Exception {
        try (TestRedis.Server redis = TestRedis.newServer().start()) {
            int before = connectedClients(redis.port());
            Map<String, String> env = new HashMap<>();
            env.put("OPENAI_API_KEY", "sk-test-standalone-0123456789");
            env.put(
                    "OPENAI_BASE_URL",
                    "http://127.0.0.1:" + upstream.getAddress().getPort());
            env.put("OPENAI_PROXY_SESSIONS_STORE", "memory");
            env.put("OPENAI_PROXY_LIMITS_STORE", "redis");
            env.put("OPENAI_PROXY_LIMITS_REDIS_URL", redis.url());
            StandaloneServer s =
                    StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", false), env, Clock.systemUTC(), dir);
            assertThat(connectedClients(redis.port())).isEqualTo(before + 1);

            s.close();

            Awaitility.await("the store's connection closed")
                    .atMost(Duration.ofSeconds(10))
                    .until(() -> connectedClients(redis.port()) == before);
        }
    }

    @Test
    void closeClosesTheJdbcLimitStoreItMade() throws Exception {
        Set<Thread> before = limitThreads();
        Map<String, String> env = new HashMap<>();
        env.put("OPENAI_API_KEY", "sk-test-standalone-0123456789");
        env.put("OPENAI_BASE_URL", "http://127.0.0.1:" + upstream.getAddress().getPort());
        env.put("OPENAI_PROXY_LIMITS_STORE", "jdbc");
        env.put("OPENAI_PROXY_POLICIES_ANONYMOUS_REQUESTS_PER_MINUTE", "100");
        StandaloneServer s =
                StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", false), env, Clock.systemUTC(), dir);
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(CHAT))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);

        s.close();

        Awaitility.await("the store's threads stopped")
                .atMost(Duration.ofSeconds(10))
                .until(() -> limitThreads().stream().allMatch(before::contains));
    }

    private static Set<Thread> limitThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("openai-proxy-limits"))
                .collect(Collectors.toSet());
    }

    /** {@code connected_clients} of a Redis server, this question's connection not counted. */
    private static int connectedClients(int port) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write("INFO clients\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("connected_clients:")) {
                    return Integer.parseInt(line.substring("connected_clients:".length())
                                    .strip())
                            - 1;
                }
            }
            throw new IOException("no connected_clients in INFO");
        }
    }

    private HttpResponse<String> chat(int port, String body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /**
     * Sends SIGTERM, as {@code docker stop} and Kubernetes do, and waits for the process to end. Not {@link
     * Process#destroy()}: it also closes this end of the process's output, and what the server logs while it stops
     * would be lost on the way.
     */
    private void sigterm() throws Exception {
        assertThat(server.toHandle().destroy()).isTrue();
        sigtermEnded();
    }

    /** Waits for the process a SIGTERM was sent to to end, and checks it ended as the signal asked. */
    private void sigtermEnded() throws Exception {
        assertThat(server.waitFor(60, TimeUnit.SECONDS))
                .as("stopped; it logged:%n%s", logs)
                .isTrue();
        output.join(10_000); // its last lines are read
        assertThat(server.exitValue()).as("exit status, as SIGTERM's").isEqualTo(143);
    }

    /** Whether a new connection to the port is accepted. */
    private static boolean accepts(int port) {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void post(Socket s, int port, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + port
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
    }

    /** Everything the server sent until it closed the connection. */
    private static String readAll(Socket s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        s.setSoTimeout(10_000);
        try {
            s.getInputStream().transferTo(out);
        } catch (IOException e) {
            // reset: what came before it is the answer
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private String h2Url() {
        return "jdbc:h2:file:" + dir.resolve("data").resolve("openai-proxy").toAbsolutePath() + ";AUTO_SERVER=TRUE";
    }

    private long count(String table) throws Exception {
        try (Connection c = DriverManager.getConnection(h2Url(), "sa", "");
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private int start(Map<String, String> settings) throws Exception {
        ProcessBuilder command = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-XX:TieredStopAtLevel=1", // a short-lived server: C1 alone starts it sooner
                        "-cp",
                        System.getProperty("java.class.path"),
                        StandaloneServer.class.getName(),
                        "--port=0")
                .directory(dir.toFile())
                .redirectErrorStream(true);
        Map<String, String> env = command.environment();
        env.keySet().removeIf(k -> k.startsWith("OPENAI_"));
        env.put("HOST", "127.0.0.1");
        env.put("OPENAI_API_KEY", "sk-test-standalone-0123456789");
        env.put("OPENAI_BASE_URL", "http://127.0.0.1:" + upstream.getAddress().getPort());
        env.putAll(settings);
        server = command.start();
        return listeningPort(server).get(60, TimeUnit.SECONDS);
    }

    private CompletableFuture<Integer> listeningPort(Process p) {
        Pattern listening = Pattern.compile("listening on http://[^:]+:(\\d+)");
        CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader lines =
                    new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    logs.append(line).append('\n');
                    Matcher m = listening.matcher(line);
                    if (m.find()) {
                        port.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (IOException e) {
                // the process ended
            }
            port.completeExceptionally(new AssertionError("the server did not start:\n" + logs));
        });
        reader.setDaemon(true);
        reader.start();
        output = reader;
        return port;
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(5, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
