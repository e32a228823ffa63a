package io.github.openaiproxy.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Adobe's S3Mock, a real S3 implementation, run as its own process ({@code java -jar s3mock.jar}) on a free port
 * of this machine with one empty bucket, so that its Spring Boot never meets the build's dependency versions.
 * The modules that use it copy {@code com.adobe.testing:s3mock:<version>:jar:exec} to
 * {@code target/s3mock/s3mock.jar} (maven-dependency-plugin, {@code generate-test-resources}). Its log goes to
 * {@code target/s3mock/s3mock-<port>.log}. {@link #close()} stops it.
 */
public final class S3MockServer implements AutoCloseable {
    /** Where the modules copy the runnable jar. */
    public static final Path JAR = Path.of("target", "s3mock", "s3mock.jar");
    /** A loaded 2-core CI machine starts it in well under this. */
    private static final Duration START_TIMEOUT = Duration.ofMinutes(3);

    private final Process process;
    private final URI endpoint;
    private final String bucket;

    private S3MockServer(Process process, URI endpoint, String bucket) {
        this.process = process;
        this.endpoint = endpoint;
        this.bucket = bucket;
    }

    /** Starts S3Mock with an empty bucket named {@code bucket} and waits until it answers. */
    public static S3MockServer start(String bucket) {
        if (!Files.isRegularFile(JAR)) {
            throw new IllegalStateException(JAR.toAbsolutePath() + " is missing: the module's build copies it"
                    + " (maven-dependency-plugin, generate-test-resources); run the tests through Maven once");
        }
        // The port is picked free, then bound by another process: in between an outgoing connection of a test
        // running beside this one may take it (both draw from the ephemeral range). Then S3Mock exits saying so,
        // and it starts again on another port.
        for (int attempt = 1; ; attempt++) {
            try {
                return start(bucket, freePort());
            } catch (PortTaken e) {
                if (attempt == 3) {
                    throw new IllegalStateException(e.getMessage());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** S3Mock could not listen on the port it was given. */
    private static final class PortTaken extends Exception {
        PortTaken(String log) {
            super("S3Mock could not listen on its port:\n" + log);
        }
    }

    private static S3MockServer start(String bucket, int port) throws IOException, PortTaken {
        Path root = Files.createTempDirectory("s3mock-");
        Path log = JAR.resolveSibling("s3mock-" + port + ".log");
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                // One GC thread, no concurrent marking: its Spring Boot start took 7 CPU seconds instead of 9 with
                // G1 on the loaded two-core CI machine, beside the tests that wait for it.
                "-XX:+UseSerialGC",
                "-jar",
                JAR.toAbsolutePath().toString(),
                "--server.port=0", // its HTTPS connector: unused
                "--server.address=127.0.0.1",
                "--com.adobe.testing.s3mock.httpPort=" + port,
                "--com.adobe.testing.s3mock.store.root=" + root,
                "--com.adobe.testing.s3mock.store.initial-buckets=" + bucket,
                "--spring.main.banner-mode=off"));
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        S3MockServer server = new S3MockServer(process, URI.create("http://127.0.0.1:" + port), bucket);
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));
        try {
            server.awaitReady(log);
        } catch (IllegalStateException e) {
            String tail = tail(log);
            if (tail.contains("failed to start") && tail.contains("already in use")) {
                throw new PortTaken(tail);
            }
            throw e;
        }
        return server;
    }

    private void awaitReady(Path log) throws IOException {
        HttpClient client =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        HttpRequest probe = HttpRequest.newBuilder(endpoint.resolve("/" + bucket))
                .timeout(Duration.ofSeconds(5))
                .build();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("S3Mock exited with " + process.exitValue() + ":\n" + tail(log));
            }
            try {
                if (client.send(probe, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new IllegalStateException("interrupted while S3Mock started", e);
            }
            try {
                // Polling a process that cannot signal readiness otherwise.
                process.waitFor(200, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new IllegalStateException("interrupted while S3Mock started", e);
            }
        }
        close();
        throw new IllegalStateException("S3Mock did not answer within " + START_TIMEOUT + ":\n" + tail(log));
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Its HTTP endpoint, {@code http://127.0.0.1:<port>}; address the bucket path-style. */
    public URI endpoint() {
        return endpoint;
    }

    /** The bucket it was started with. */
    public String bucket() {
        return bucket;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
