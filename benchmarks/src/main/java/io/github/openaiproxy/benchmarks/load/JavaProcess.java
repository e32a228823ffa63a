package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A JVM started for the benchmark (the stub or the proxy), its output in a log file. */
final class JavaProcess implements AutoCloseable {
    private final Process process;
    private final int port;

    private JavaProcess(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static JavaProcess start(
            List<String> jvmOptions,
            List<String> mainAndArgs,
            Map<String, String> env,
            int port,
            Path log,
            Duration startTimeout)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(mainAndArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        Procs.awaitPort(port, startTimeout, p);
        return new JavaProcess(p, port);
    }

    long pid() {
        return process.pid();
    }

    int port() {
        return port;
    }

    long cpuMillis() {
        return Procs.cpuMillis(pid());
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
        }
    }
}
