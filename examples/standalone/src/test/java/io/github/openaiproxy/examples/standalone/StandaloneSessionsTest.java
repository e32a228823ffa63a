package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.testkit.ManualClock;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Sessions in the standalone server: GraphQL mounted, history in an H2 file across restarts, PostgreSQL shared. */
class StandaloneSessionsTest {
    final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    HttpResponse<String> post(StandaloneServer server, String path, String json) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(StandaloneServer server, String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static String field(String json, String name) {
        int i = json.indexOf("\"" + name + "\":\"") + name.length() + 4;
        return json.substring(i, json.indexOf('"', i));
    }

    StandaloneServer demo(Map<String, String> env) throws Exception {
        return StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env);
    }

    @Test
    void historySurvivesARestartInTheH2File() throws Exception {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_DB_URL", "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath());
        String id;
        try (StandaloneServer server = demo(env)) {
            HttpResponse<String> created =
                    post(server, "/graphql", "{\"query\":\"mutation { createSession { sessionId success } }\"}");
            assertThat(created.statusCode()).isEqualTo(200);
            id = field(created.body(), "sessionId");
            HttpResponse<String> chat = post(
                    server,
                    "/graphql",
                    "{\"query\":\"mutation { getAIResponse(input: {sessionId: \\\"" + id
                            + "\\\", messages: [{role: \\\"user\\\", content: \\\"Remember me\\\"}]}) { content success } }\"}");
            assertThat(chat.body()).contains("\"success\":true").contains("[demo]");
        }
        try (StandaloneServer again = demo(env)) {
            HttpResponse<String> history = get(again, "/sessions/" + id + "/messages");
            assertThat(history.statusCode()).isEqualTo(200);
            assertThat(history.body()).contains("\"content\":\"Remember me\"").contains("[demo]");
            HttpResponse<String> viaGraphQl = post(
                    again,
                    "/graphql",
                    "{\"query\":\"query { chatHistory(sessionId: \\\"" + id + "\\\") { content isUser } }\"}");
            assertThat(viaGraphQl.body()).contains("{\"content\":\"Remember me\",\"isUser\":true}");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"jdbc", "memory"})
    void aSessionWithoutNewMessagesForTheRetentionIsGone(String store) throws Exception {
        Map<String, String> env = Map.of(
                "OPENAI_PROXY_SESSIONS_STORE",
                store,
                "OPENAI_PROXY_DB_URL",
                "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath(),
                "OPENAI_PROXY_SESSIONS_RETENTION",
                "1s");
        ManualClock clock = new ManualClock();
        try (StandaloneServer server =
                StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env, clock)) {
            String id = field(post(server, "/sessions", "").body(), "sessionId");
            clock.advance(Duration.ofMillis(500));
            HttpResponse<String> fresh = get(server, "/sessions/" + id);
            assertThat(fresh.statusCode()).as(fresh.body()).isEqualTo(200);

            // 1.5 s after the last message (database), 1 s after the last use (memory): gone for both.
            clock.advance(Duration.ofMillis(1_001));
            HttpResponse<String> later = get(server, "/sessions/" + id);
            assertThat(later.statusCode()).as(later.body()).isEqualTo(404);
            assertThat(get(server, "/sessions/" + id + "/messages").statusCode())
                    .isEqualTo(404);
        }
    }

    /**
     * The default storage, with no setting: an H2 file under the working directory (here {@code dir}),
     * written and read back, also after a restart. H2 used to refuse the default URL ("Feature not
     * supported: AUTO_SERVER=TRUE && DB_CLOSE_ON_EXIT=FALSE") and the server did not start.
     */
    @Test
    void theDefaultStorageIsAnH2FileUnderTheWorkingDirectory() throws Exception {
        String id;
        try (StandaloneServer server = inDir(Map.of())) {
            id = field(post(server, "/sessions", "").body(), "sessionId");
            HttpResponse<String> chat = post(
                    server,
                    "/",
                    "{\"sessionId\":\"" + id + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Keep me\"}]}");
            assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
            assertThat(get(server, "/sessions/" + id + "/messages").body()).contains("Keep me");
        }
        assertThat(dir.resolve("data").resolve("openai-proxy.mv.db")).isRegularFile();
        try (StandaloneServer again = inDir(Map.of())) {
            assertThat(get(again, "/sessions/" + id + "/messages").body())
                    .contains("Keep me")
                    .contains("[demo]");
        }
    }

    /** A URL with DB_CLOSE_ON_EXIT=FALSE is kept as it is (not shared); with AUTO_SERVER=TRUE too, a clear error. */
    @Test
    void anH2UrlThatKeepsTheDatabaseOpenAtExitWorksUnshared() throws Exception {
        String url = "jdbc:h2:file:" + dir.resolve("open").toAbsolutePath() + ";DB_CLOSE_ON_EXIT=FALSE";
        try (StandaloneServer server = demo(Map.of("OPENAI_PROXY_DB_URL", url))) {
            String id = field(post(server, "/sessions", "").body(), "sessionId");
            assertThat(get(server, "/sessions/" + id).statusCode()).isEqualTo(200);
        }
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_DB_URL", url + ";AUTO_SERVER=TRUE")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("OPENAI_PROXY_DB_URL")
                .hasMessageContaining("AUTO_SERVER=TRUE")
                .hasMessageContaining("DB_CLOSE_ON_EXIT=FALSE");
    }

    StandaloneServer inDir(Map<String, String> env) throws Exception {
        return StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env, Clock.systemUTC(), dir);
    }

    /**
     * Two servers started on one H2 file: the default setup, twice in one directory. The first runs in a JVM of
     * its own, as a second {@code java -jar} would: within one JVM H2 shares an open file anyway, so only two
     * processes show the lock. The second server shares the file through H2's mixed mode instead of dying on its
     * lock, and each sees what the other wrote. The port the first one opens for it listens on loopback only.
     *
     * <p>Only the default URL runs in two processes (each one costs a JVM start): an explicit file URL takes the
     * same path ({@code SessionStorage.url} then {@code shared}, which {@link
     * #anH2FileUrlIsOpenedInMixedModeUnlessItChoosesOtherwise} checks for such URLs), while the default one also
     * resolves a relative path in one process and an absolute one in the other.
     */
    @Test
    void twoServersInTwoProcessesShareOneH2File() throws Exception {
        Path lock = dir.resolve("data").resolve("openai-proxy.lock.db");
        ProcessBuilder command = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-XX:TieredStopAtLevel=1", // a short-lived server: C1 alone starts it sooner
                        "-cp",
                        System.getProperty("java.class.path"),
                        StandaloneServer.class.getName(),
                        "--demo",
                        "--port=0")
                .directory(dir.toFile())
                .redirectErrorStream(true);
        command.environment().remove("OPENAI_PROXY_DB_URL");
        command.environment().put("HOST", "127.0.0.1");
        command.environment().put("OPENAI_PROXY_SESSIONS_STORE", "jdbc");
        Process first = command.start();
        try {
            int port = listeningPort(first);
            assertH2ListensOnLoopbackOnly(lock);
            try (StandaloneServer second = inDir(Map.of("OPENAI_PROXY_DB_POOL_SIZE", "2"))) {
                String id = field(post(second, "/sessions", "").body(), "sessionId");
                HttpResponse<String> chat = post(
                        second,
                        "/",
                        "{\"sessionId\":\"" + id
                                + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi from the second\"}]}");
                assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);

                HttpResponse<String> history = http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/sessions/" + id + "/messages"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(history.statusCode()).as(history.body()).isEqualTo(200);
                assertThat(history.body()).contains("Hi from the second").contains("[demo]");
            }
        } finally {
            first.destroy();
            first.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /**
     * Servers started at the same moment in one directory race for H2's lock file: one that finds it just written
     * by another (H2: "Lock file recently modified", about one start in five of three at once) waits for it instead
     * of failing. Here the lock file is kept fresh, as a starting server's is, for longer than H2 waits itself.
     */
    @Test
    void aServerStartingWhileAnotherWritesTheH2LockFileWaitsForIt() throws Exception {
        Path lock = dir.resolve("data").resolve("openai-proxy.lock.db");
        Files.createDirectories(lock.getParent());
        Files.writeString(lock, "#FileLock\nmethod=file\nid=another-server-starting\n");
        long freshUntil = System.nanoTime() + Duration.ofSeconds(6).toNanos();
        Thread toucher = new Thread(() -> {
            while (System.nanoTime() < freshUntil) {
                try {
                    Files.setLastModifiedTime(
                            lock, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis()));
                    Thread.sleep(50);
                } catch (Exception e) {
                    return;
                }
            }
        });
        toucher.setDaemon(true);
        toucher.start();
        try (StandaloneServer server = inDir(Map.of("OPENAI_PROXY_DB_POOL_SIZE", "2"))) {
            assertThat(post(server, "/sessions", "").statusCode()).isEqualTo(201);
        } finally {
            toucher.interrupt();
        }
    }

    /**
     * The port H2 serves the shared file on (the {@code server=} line of its lock file) takes no
     * connection from another machine: every socket listening on it (Linux lists them in /proc/net) is
     * bound to loopback, and it refuses connections to this machine's other addresses.
     */
    static void assertH2ListensOnLoopbackOnly(Path lockFile) throws Exception {
        Properties lock = new Properties();
        try (var in = Files.newInputStream(lockFile)) {
            lock.load(in);
        }
        String server = lock.getProperty("server");
        assertThat(server).as("server= in " + lockFile).isNotBlank();
        int h2Port = Integer.parseInt(server.substring(server.lastIndexOf(':') + 1));
        Path procTcp = Path.of("/proc/net/tcp");
        if (Files.isReadable(procTcp)) {
            List<InetAddress> bound = new ArrayList<>();
            bound.addAll(listening(procTcp, h2Port));
            bound.addAll(listening(Path.of("/proc/net/tcp6"), h2Port));
            assertThat(bound).as("sockets listening on H2's port " + h2Port).isNotEmpty();
            assertThat(bound)
                    .allSatisfy(a -> assertThat(a.isLoopbackAddress())
                            .as("H2 listens on " + a.getHostAddress())
                            .isTrue());
        }
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a.isLoopbackAddress() || a.isLinkLocalAddress()) {
                    continue;
                }
                try (Socket s = new Socket()) {
                    assertThatThrownBy(() -> s.connect(new InetSocketAddress(a, h2Port), 2_000))
                            .as("H2's port reached on " + a.getHostAddress())
                            .isInstanceOf(java.io.IOException.class);
                }
            }
        }
    }

    /** The local addresses of the sockets in LISTEN state on {@code port} in a /proc/net/tcp(6) table. */
    private static List<InetAddress> listening(Path table, int port) throws Exception {
        List<InetAddress> found = new ArrayList<>();
        if (!Files.isReadable(table)) {
            return found;
        }
        List<String> lines = Files.readAllLines(table);
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.strip().split("\\s+");
            String[] local = f[1].split(":");
            if (f[3].equals("0A") && Integer.parseInt(local[1], 16) == port) {
                // The address is written as 32-bit words in host (little-endian) order.
                byte[] raw = HexFormat.of().parseHex(local[0]);
                byte[] address = new byte[raw.length];
                for (int w = 0; w < raw.length; w += 4) {
                    for (int b = 0; b < 4; b++) {
                        address[w + b] = raw[w + 3 - b];
                    }
                }
                found.add(InetAddress.getByAddress(address));
            }
        }
        return found;
    }

    @Test
    void h2ListensOnLoopbackUnlessTheCommandLineChoseAnAddress() {
        Properties system = new Properties();
        StandaloneServer.h2OnLoopback(system);
        assertThat(system.getProperty("h2.bindAddress")).isEqualTo("127.0.0.1");
        Properties chosen = new Properties();
        chosen.setProperty("h2.bindAddress", "10.0.0.5");
        StandaloneServer.h2OnLoopback(chosen);
        assertThat(chosen.getProperty("h2.bindAddress")).isEqualTo("10.0.0.5");
    }

    /** Reads the server's log until it says where it listens (or fails if it exits first). */
    private static int listeningPort(Process server) throws Exception {
        java.util.regex.Pattern listening = java.util.regex.Pattern.compile("listening on http://[^:]+:(\\d+)");
        CompletableFuture<Integer> port = new CompletableFuture<>();
        StringBuilder log = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (var lines = new java.io.BufferedReader(
                    new java.io.InputStreamReader(server.getInputStream(), java.nio.charset.StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    synchronized (log) {
                        log.append(line).append('\n');
                    }
                    java.util.regex.Matcher m = listening.matcher(line);
                    if (m.find()) {
                        port.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (java.io.IOException e) {
                // the process ended
            }
            synchronized (log) {
                port.completeExceptionally(new AssertionError("the first server did not start:\n" + log));
            }
        });
        reader.setDaemon(true);
        reader.start();
        return port.get(60, java.util.concurrent.TimeUnit.SECONDS);
    }

    @Test
    void anH2FileUrlIsOpenedInMixedModeUnlessItChoosesOtherwise() {
        assertThat(SessionStorage.shared("jdbc:h2:file:./data/x")).isEqualTo("jdbc:h2:file:./data/x;AUTO_SERVER=TRUE");
        assertThat(SessionStorage.shared("jdbc:h2:file:./data/x;auto_server=false"))
                .isEqualTo("jdbc:h2:file:./data/x;auto_server=false");
        assertThat(SessionStorage.shared("jdbc:h2:file:./data/x;DB_CLOSE_ON_EXIT=FALSE"))
                .isEqualTo("jdbc:h2:file:./data/x;DB_CLOSE_ON_EXIT=FALSE");
        assertThatThrownBy(() -> SessionStorage.shared("jdbc:h2:file:./x;AUTO_SERVER=TRUE;db_close_on_exit=false"))
                .hasMessageContaining("OPENAI_PROXY_DB_URL");
        assertThat(SessionStorage.shared("jdbc:h2:mem:x")).isEqualTo("jdbc:h2:mem:x");
        assertThat(SessionStorage.shared("jdbc:postgresql://db/chat")).isEqualTo("jdbc:postgresql://db/chat");
    }

    @Test
    void graphQlCanBeSwitchedOff() throws Exception {
        try (StandaloneServer server =
                demo(Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory", "OPENAI_PROXY_GRAPHQL_ENABLED", "false"))) {
            assertThat(post(server, "/graphql", "{\"query\":\"{ __typename }\"}")
                            .statusCode())
                    .isEqualTo(404);
        }
    }

    @Test
    void badStorageSettingsFailStartUpNamingThem() {
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_SESSIONS_STORE", "redis")))
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_STORE");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_DB_URL", "postgres://x")))
                .hasMessageContaining("OPENAI_PROXY_DB_URL");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_SESSIONS_RETENTION", "forever")))
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_RETENTION");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_SESSIONS_RETENTION", "0s")))
                .hasMessageContaining("OPENAI_PROXY_SESSIONS_RETENTION");
        assertThatThrownBy(() -> demo(Map.of("OPENAI_PROXY_GRAPHQL_MAX_DEPTH", "deep")))
                .hasMessageContaining("graphql.max-depth");
    }

    @Test
    void theLogShowsNoDatabasePassword() {
        assertThat(SessionStorage.describe("jdbc:postgresql://db:5432/chat?user=u&password=secret"))
                .isEqualTo("jdbc:postgresql://db:5432/chat");
        assertThat(SessionStorage.describe("jdbc:h2:file:./data/x;PASSWORD=secret"))
                .isEqualTo("jdbc:h2:file:./data/x");
    }

    /** Two servers on one PostgreSQL database see each other's sessions (needs OPENAI_PROXY_TEST_PG_URL). */
    @Test
    void twoServersShareSessionsInPostgres() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(
                url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set: PostgreSQL test skipped");
        Map<String, String> env = new HashMap<>();
        env.put("OPENAI_PROXY_DB_URL", url);
        env.put("OPENAI_PROXY_DB_USER", System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        env.put("OPENAI_PROXY_DB_PASSWORD", System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        env.put("OPENAI_PROXY_DB_POOL_SIZE", "2");
        try (StandaloneServer a = demo(env);
                StandaloneServer b = demo(env)) {
            String id = field(post(a, "/sessions", "").body(), "sessionId");
            assertThat(post(
                                    b,
                                    "/",
                                    "{\"sessionId\":\"" + id
                                            + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi from b\"}]}")
                            .statusCode())
                    .isEqualTo(200);
            assertThat(get(a, "/sessions/" + id + "/messages").body()).contains("Hi from b");
        }
    }
}
