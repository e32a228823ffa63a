package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.github.openaiproxy.testkit.TestRedis;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two standalone servers, each in a JVM of its own as two replicas would run, counting one policy's limit in
 * one shared store (Redis, PostgreSQL): 300 concurrent requests of one caller spread over both pass exactly the
 * 100 of a 100-per-minute limit, the rest are 429 {@code rate_limit_exceeded}, none is a 5xx, and the upstream
 * is called exactly 100 times.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StandaloneTwoInstancesLimitsTest {
    private static final String CHAT_COMPLETION = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
            + "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
            + "{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":1,\"total_tokens\":9}}";

    final AtomicInteger upstreamCalls = new AtomicInteger();
    final List<Process> servers = new ArrayList<>();
    /** What the servers logged, shown when a test fails. */
    final StringBuffer logs = new StringBuffer();

    final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    ExecutorService upstreamThreads;
    HttpServer upstream;

    @TempDir
    Path dir;

    @BeforeEach
    void startUpstream() throws IOException {
        upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 200);
        upstreamThreads = Executors.newFixedThreadPool(16);
        upstream.setExecutor(upstreamThreads);
        upstream.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            upstreamCalls.incrementAndGet();
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
        for (Process p : servers) {
            p.destroy();
        }
        for (Process p : servers) {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        upstream.stop(0);
        upstreamThreads.shutdownNow();
    }

    @Test
    void threeHundredRequestsOverTwoProcessesOnOneRedisPassExactlyAHundred() throws Exception {
        String redis = TestRedis.url();
        exactlyAHundredOfThreeHundredPass(
                Map.of("OPENAI_PROXY_LIMITS_STORE", "redis", "OPENAI_PROXY_LIMITS_REDIS_URL", redis));
    }

    /**
     * A standalone server whose Redis cannot be reached at start (a Redis restarting during a rollout) starts all the
     * same, says so once without the URL's password, allows the rate-limited requests, and counts in Redis once it
     * listens.
     */
    @Test
    void aServerWhoseRedisIsUnreachableAtStartStartsAndCountsOnceRedisListens() throws Exception {
        try (TestRedis.Server redis = TestRedis.newServer()) { // not started: nothing listens on its port yet
            int port = start(
                            "down",
                            Map.of(
                                    "OPENAI_PROXY_LIMITS_STORE",
                                    "redis",
                                    "OPENAI_PROXY_LIMITS_REDIS_URL",
                                    "redis://:s3cret-pass@127.0.0.1:" + redis.port()))
                    .get(60, TimeUnit.SECONDS);
            assertThat(logs.toString())
                    .contains("cannot be reached")
                    .contains("redis://***@127.0.0.1:" + redis.port())
                    .doesNotContain("s3cret-pass");
            HttpResponse<String> allowed = chat(port);
            assertThat(allowed.statusCode()).as(allowed.body()).isEqualTo(200);
            assertThat(allowed.headers().firstValue("x-ratelimit-remaining-requests"))
                    .as("not counted: Redis is down")
                    .isEmpty();

            redis.start();
            // Lettuce's reconnect delay spaces the attempts: at most 30 s apart; Redis starts within a few seconds.
            org.awaitility.Awaitility.await("the server connected to Redis by itself and counts there")
                    .atMost(java.time.Duration.ofSeconds(40))
                    .pollInterval(java.time.Duration.ofMillis(250))
                    .until(() -> chat(port)
                            .headers()
                            .firstValue("x-ratelimit-remaining-requests")
                            .isPresent());
        }
    }

    private HttpResponse<String> chat(int port) throws Exception {
        return http.send(
                HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                        .header("Content-Type", "application/json")
                        .header("X-Forwarded-For", "10.1.2.3")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void threeHundredRequestsOverTwoProcessesOnOnePostgresPassExactlyAHundred() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(
                url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set: PostgreSQL test skipped");
        Map<String, String> env = new java.util.HashMap<>();
        env.put("OPENAI_PROXY_LIMITS_STORE", "jdbc");
        env.put("OPENAI_PROXY_DB_URL", url);
        env.put("OPENAI_PROXY_DB_USER", System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        env.put("OPENAI_PROXY_DB_PASSWORD", System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        exactlyAHundredOfThreeHundredPass(env);
    }

    private void exactlyAHundredOfThreeHundredPass(Map<String, String> store) throws Exception {
        CompletableFuture<Integer> a = start("a", store);
        CompletableFuture<Integer> b = start("b", store);
        int[] ports = {a.get(60, TimeUnit.SECONDS), b.get(60, TimeUnit.SECONDS)};
        // Replicas in service are warm: a freshly started JVM's first burst can be slower than the store's
        // timeout (1 s Redis, 2 s JDBC), and a rate limit is allowed while the store does not answer.
        for (int wave = 0; wave < 4; wave++) {
            CompletableFuture.allOf(burst(ports, 20, newCaller()).toArray(CompletableFuture[]::new))
                    .get(60, TimeUnit.SECONDS);
        }
        int warmUpCalls = upstreamCalls.getAndSet(0);
        assertThat(warmUpCalls).as("warm-up calls that passed").isEqualTo(80);

        // One caller, new to the shared store on every run: the address a trusted reverse proxy forwards.
        List<CompletableFuture<HttpResponse<String>>> answers = burst(ports, 300, newCaller());
        CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);

        int passed = 0;
        for (int i = 0; i < answers.size(); i++) {
            HttpResponse<String> answer = answers.get(i).join();
            if (answer.statusCode() == 200) {
                passed++;
            } else {
                assertThat(answer.statusCode()).as(answer.body()).isEqualTo(429);
                assertThat(answer.body()).contains("\"code\":\"rate_limit_exceeded\"");
                assertThat(answer.headers().firstValue("x-ratelimit-limit-requests"))
                        .as(answer.body())
                        .contains("100");
            }
        }
        assertThat(passed).as("passed; the servers logged:%n%s", logs).isEqualTo(100);
        assertThat(upstreamCalls).hasValue(100);
    }

    private static String newCaller() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return "10." + r.nextInt(256) + "." + r.nextInt(256) + "." + (1 + r.nextInt(254));
    }

    /** {@code n} chat requests of one caller sent at once, alternating between the servers. */
    private List<CompletableFuture<HttpResponse<String>>> burst(int[] ports, int n, String caller) {
        List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            HttpRequest request = HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + ports[i % 2] + "/v1/chat/completions"))
                    .header("Content-Type", "application/json")
                    .header("X-Forwarded-For", caller)
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"))
                    .build();
            answers.add(http.sendAsync(request, HttpResponse.BodyHandlers.ofString()));
        }
        return answers;
    }

    /** Starts a standalone server in a JVM of its own; completes with its port once it listens. */
    private CompletableFuture<Integer> start(String name, Map<String, String> store) throws IOException {
        java.io.File home = dir.resolve(name).toFile();
        assertThat(home.mkdirs()).isTrue();
        ProcessBuilder command = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        // C1 alone: the warm-up leaves no C2 compilation to compete with the measured burst for
                        // the CPU (on a loaded 2-core machine it made store calls outlast their timeout).
                        "-XX:TieredStopAtLevel=1",
                        "-cp",
                        System.getProperty("java.class.path"),
                        StandaloneServer.class.getName(),
                        "--port=0")
                .directory(home)
                .redirectErrorStream(true);
        Map<String, String> env = command.environment();
        env.keySet().removeIf(k -> k.startsWith("OPENAI_"));
        env.put("HOST", "127.0.0.1");
        env.put("OPENAI_API_KEY", "sk-test-standalone-0123456789");
        env.put("OPENAI_BASE_URL", "http://127.0.0.1:" + upstream.getAddress().getPort());
        env.put("OPENAI_PROXY_POLICIES_ANONYMOUS_REQUESTS_PER_MINUTE", "100");
        env.put("OPENAI_PROXY_ACCESS_TRUSTED_PROXIES", "127.0.0.1");
        // The transport's own cap on one client's calls in flight stays out of the way: the policy decides.
        env.put("OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT", "0");
        env.put("OPENAI_PROXY_DB_POOL_SIZE", "4");
        // A cold JVM's first burst on a busy two-core machine can keep a store's answer past the 2 s default, and
        // a late answer counts as the store being down (rate limits then let requests through): this test is
        // about exact counting, so it waits as long as it takes.
        env.put("OPENAI_PROXY_LIMITS_STORE_TIMEOUT", "20s");
        env.putAll(store);
        Process p = command.start();
        servers.add(p);
        return listeningPort(p);
    }

    private CompletableFuture<Integer> listeningPort(Process server) {
        Pattern listening = Pattern.compile("listening on http://[^:]+:(\\d+)");
        CompletableFuture<Integer> port = new CompletableFuture<>();
        StringBuilder log = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (BufferedReader lines =
                    new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    synchronized (log) {
                        log.append(line).append('\n');
                    }
                    logs.append(line).append('\n');
                    Matcher m = listening.matcher(line);
                    if (m.find()) {
                        port.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (IOException e) {
                // the process ended
            }
            synchronized (log) {
                port.completeExceptionally(new AssertionError("the server did not start:\n" + log));
            }
        });
        reader.setDaemon(true);
        reader.start();
        return port;
    }
}
