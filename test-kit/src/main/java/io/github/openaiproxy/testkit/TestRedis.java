package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * The real Redis servers the Redis limit store's tests run against: {@code OPENAI_PROXY_TEST_REDIS_URL} (a
 * standalone server) and {@code OPENAI_PROXY_TEST_REDIS_CLUSTER_URL} (a node of a Redis Cluster). {@code
 * .ci/run} starts both from Debian's {@code redis-server} and sets {@code OPENAI_PROXY_REDIS_TESTS=required}:
 * there a server not named or not answering fails the tests; elsewhere they are skipped.
 */
public final class TestRedis {
    private TestRedis() {}

    private static boolean required() {
        return "required".equals(System.getenv("OPENAI_PROXY_REDIS_TESTS"));
    }

    /** The standalone server's URL; fails (in CI) or skips the calling test when there is none answering. */
    public static String url() {
        return answering("OPENAI_PROXY_TEST_REDIS_URL");
    }

    /** A cluster node's URL ({@code redis://host:port}); fails (in CI) or skips as {@link #url()}. */
    public static String clusterUrl() {
        return answering("OPENAI_PROXY_TEST_REDIS_CLUSTER_URL");
    }

    private static String answering(String variable) {
        String url = System.getenv(variable);
        if (required()) {
            assertThat(url).as(variable + " (.ci/run starts Redis)").isNotBlank();
        }
        Assumptions.assumeTrue(
                url != null && !url.isBlank(),
                variable + " is not set: Redis tests skipped (.ci/run starts a server and sets it)");
        URI uri = URI.create(url.strip());
        if (required()) {
            assertThat(pings(uri.getPort()))
                    .as("Redis at " + url + " answers PING")
                    .isTrue();
        } else {
            Assumptions.assumeTrue(pings(uri.getPort()), "Redis at " + url + " does not answer: skipped");
        }
        return url.strip();
    }

    /** Whether a Redis server on loopback port {@code port} answers {@code PING}. */
    public static boolean pings(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
            s.setSoTimeout(1_000);
            OutputStream out = s.getOutputStream();
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] answer = new byte[7];
            int n = in.readNBytes(answer, 0, 7);
            return n == 7 && new String(answer, StandardCharsets.US_ASCII).equals("+PONG\r\n");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * A Redis server of the calling test's own ({@code redis-server} from the path, on a free loopback port,
     * without persistence), which the test stops and starts again: the Redis that goes down mid-test. Fails (in
     * CI) or skips when there is no {@code redis-server}.
     */
    public static Server newServer() throws IOException {
        File binary = null;
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            File f = new File(dir, "redis-server");
            if (f.canExecute()) {
                binary = f;
                break;
            }
        }
        if (required()) {
            assertThat(binary)
                    .as("redis-server on the PATH (.ci/run installs it)")
                    .isNotNull();
        }
        Assumptions.assumeTrue(binary != null, "no redis-server on the PATH: skipped");
        return new Server(binary, freePort(), Files.createTempDirectory("openai-proxy-redis-"), null);
    }

    /**
     * A one-node Redis Cluster of the calling test's own (all 16384 slots on the node), as {@code .ci/redis.sh}
     * starts the shared one, for what a test may not do to that one (set a password, stop it). Fails (in CI) or
     * skips as {@link #newServer()}.
     */
    public static Server newClusterNode() throws IOException {
        Server server = newServer();
        return new Server(server.binary, server.port, server.dir, null, true);
    }

    /**
     * A Redis Sentinel of the calling test's own (the same binary, {@code --sentinel}) that monitors {@code
     * master} as {@code mymaster}; started by {@link Server#start()}.
     */
    public static Server newSentinel(Server master) throws IOException {
        int port = freePort();
        Path dir = Files.createTempDirectory("openai-proxy-sentinel-");
        Path config = dir.resolve("sentinel.conf");
        Files.writeString(
                config,
                "sentinel monitor mymaster 127.0.0.1 " + master.port + " 1\n"
                        + "sentinel down-after-milliseconds mymaster 60000\n");
        return new Server(master.binary, port, dir, config);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * A TCP relay on loopback to the Redis server on {@code port}, which can lose the next reply: it closes both
     * connections instead of passing the reply on, after Redis ran the command (a reset connection, a network
     * fault). What the client does then (fail the command, or send it again once reconnected) is what tests look at.
     */
    public static Link link(int port) throws IOException {
        return new Link(port);
    }

    /** See {@link #link(int)}. */
    public static final class Link implements AutoCloseable {
        private final int target;
        private final ServerSocket server;
        private final java.util.concurrent.atomic.AtomicBoolean dropNext =
                new java.util.concurrent.atomic.AtomicBoolean();
        private final List<Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();

        private Link(int target) throws IOException {
            this.target = target;
            this.server = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            daemon(this::accept).start();
        }

        /** The relay's URL, for the client. */
        public String url() {
            return "redis://127.0.0.1:" + server.getLocalPort();
        }

        /** The next reply Redis sends (to any connection) is lost with its connection. */
        public void dropNextReply() {
            dropNext.set(true);
        }

        private void accept() {
            while (!server.isClosed()) {
                Socket client;
                try {
                    client = server.accept();
                } catch (IOException e) {
                    return; // closed
                }
                try {
                    Socket redis = new Socket("127.0.0.1", target);
                    sockets.add(client);
                    sockets.add(redis);
                    daemon(() -> pump(client, redis, false)).start();
                    daemon(() -> pump(redis, client, true)).start();
                } catch (IOException e) {
                    closeQuietly(client); // Redis is down: refused, as Redis itself would; the next may find it up
                }
            }
        }

        private void pump(Socket from, Socket to, boolean replies) {
            byte[] buffer = new byte[8192];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) > 0) {
                    if (replies && dropNext.compareAndSet(true, false)) {
                        break; // the reply is lost, and the connection with it
                    }
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // the other side closed
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }

        private static Thread daemon(Runnable r) {
            Thread t = new Thread(r, "test-redis-link");
            t.setDaemon(true);
            return t;
        }

        private static void closeQuietly(java.io.Closeable c) {
            try {
                c.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }

        @Override
        public void close() {
            closeQuietly(server);
            sockets.forEach(Link::closeQuietly);
        }
    }

    /** A {@code redis-server} process that can be stopped (killed) and started again on the same port. */
    public static final class Server implements AutoCloseable {
        private final File binary;
        private final int port;
        private final Path dir;
        /** A Sentinel's configuration file, {@code null} for a server. */
        private final Path sentinelConfig;
        /** A node of a one-node Redis Cluster. */
        private final boolean cluster;

        private Process process;

        private Server(File binary, int port, Path dir, Path sentinelConfig) {
            this(binary, port, dir, sentinelConfig, false);
        }

        private Server(File binary, int port, Path dir, Path sentinelConfig, boolean cluster) {
            this.binary = binary;
            this.port = port;
            this.dir = dir;
            this.sentinelConfig = sentinelConfig;
            this.cluster = cluster;
        }

        public String url() {
            return "redis://127.0.0.1:" + port;
        }

        public int port() {
            return port;
        }

        /** The server's own directory (its log, a Sentinel's configuration), deleted by {@link #close()}. */
        Path dir() {
            return dir;
        }

        /** Starts the server and waits until it answers. */
        public Server start() throws IOException {
            List<String> command = new ArrayList<>(List.of(binary.getPath()));
            if (sentinelConfig != null) {
                command.add(sentinelConfig.toString());
                command.add("--sentinel");
            }
            command.addAll(List.of(
                    "--port", Integer.toString(port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", dir.toString()));
            if (cluster) {
                command.addAll(List.of(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        dir.resolve("nodes.conf").toString()));
            }
            process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("redis.log").toFile())
                    .start();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!pings(port)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("redis-server on port " + port + " did not answer within 20 s");
                }
                try {
                    Thread.sleep(50); // polling a starting server: nothing to wait on but its port
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted waiting for redis-server", e);
                }
            }
            if (cluster) {
                formCluster(deadline);
            }
            return this;
        }

        /**
         * Gives the node every slot (kept in its nodes.conf when it starts again) and waits for {@code
         * cluster_state:ok}, as {@code .ci/redis.sh} does with redis-cli.
         */
        private void formCluster(long deadline) {
            if (!ask("CLUSTER INFO").contains("cluster_slots_assigned:16384")) {
                String added = ask("CLUSTER ADDSLOTSRANGE 0 16383");
                if (!added.startsWith("+OK")) {
                    throw new IllegalStateException("CLUSTER ADDSLOTSRANGE on port " + port + ": " + added);
                }
            }
            while (!ask("CLUSTER INFO").contains("cluster_state:ok")) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the Redis Cluster node on port " + port + " is not ok");
                }
                try {
                    Thread.sleep(50); // the node settles its state on its own cron
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted waiting for the Redis Cluster", e);
                }
            }
        }

        /** The server's reply to an inline command: a status or error line, or a bulk string's content. */
        private String ask(String command) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
                s.setSoTimeout(2_000);
                s.getOutputStream().write((command + "\r\n").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                InputStream in = s.getInputStream();
                StringBuilder line = new StringBuilder();
                for (int c = in.read(); c != -1 && c != '\n'; c = in.read()) {
                    line.append((char) c);
                }
                String first = line.toString().strip();
                if (!first.startsWith("$") || first.equals("$-1")) {
                    return first;
                }
                return new String(in.readNBytes(Integer.parseInt(first.substring(1))), StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw new IllegalStateException(command + " on port " + port + ": " + e, e);
            }
        }

        /** Kills the server at once, as a crash would (its counters are gone with it). */
        public void stop() throws InterruptedException {
            if (process != null) {
                process.destroyForcibly().waitFor();
                process = null;
            }
        }

        /** Kills the server and deletes its directory: every suite run starts dozens of these. */
        @Override
        public void close() throws InterruptedException {
            stop();
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            } catch (IOException | UncheckedIOException e) {
                // a leftover temp file is not the test's failure
            }
        }
    }
}
