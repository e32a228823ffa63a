package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * nginx as a plain reverse proxy to the stub: the pass-through baseline. The configuration is written
 * into a temporary folder; keep-alive connections to the upstream, no access log, and no buffering for
 * event streams (the stub sends {@code X-Accel-Buffering: no} with them, as a proxy should expect).
 */
final class Nginx implements AutoCloseable {
    private final Process process;
    private final int port;

    private Nginx(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static Path binary() {
        for (String p : List.of("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx")) {
            if (Files.isExecutable(Path.of(p))) {
                return Path.of(p);
            }
        }
        throw new IllegalStateException("nginx is not installed (apt-get install nginx)");
    }

    static String config(Path dir, int port, int upstreamPort, int workers) {
        boolean root = "root".equals(System.getProperty("user.name"));
        return (root ? "user root;\n" : "")
                + "worker_processes " + workers + ";\n"
                + "worker_rlimit_nofile 65536;\n"
                + "daemon off;\n"
                + "master_process on;\n"
                + "pid " + dir.resolve("nginx.pid") + ";\n"
                + "error_log " + dir.resolve("error.log") + " warn;\n"
                + "events { worker_connections 16384; }\n"
                + "http {\n"
                + "  access_log off;\n"
                + "  client_body_temp_path " + dir.resolve("client_body") + ";\n"
                + "  proxy_temp_path " + dir.resolve("proxy_temp") + ";\n"
                + "  fastcgi_temp_path " + dir.resolve("fastcgi_temp") + ";\n"
                + "  uwsgi_temp_path " + dir.resolve("uwsgi_temp") + ";\n"
                + "  scgi_temp_path " + dir.resolve("scgi_temp") + ";\n"
                + "  keepalive_requests 1000000;\n"
                + "  keepalive_timeout 75s;\n"
                + "  client_max_body_size 16m;\n"
                + "  upstream stub {\n"
                + "    server 127.0.0.1:" + upstreamPort + ";\n"
                + "    keepalive 512;\n"
                + "    keepalive_requests 1000000;\n"
                + "  }\n"
                + "  server {\n"
                + "    listen 127.0.0.1:" + port + " backlog=8192;\n"
                + "    location / {\n"
                + "      proxy_pass http://stub;\n"
                + "      proxy_http_version 1.1;\n"
                + "      proxy_set_header Connection \"\";\n"
                + "      proxy_read_timeout 600s;\n"
                + "    }\n"
                + "  }\n"
                + "}\n";
    }

    static Nginx start(Path dir, int upstreamPort, int workers) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        int port = Procs.freePort();
        Path conf = dir.resolve("nginx.conf");
        Files.writeString(conf, config(dir, port, upstreamPort, workers));
        List<String> cmd = new ArrayList<>(
                List.of(binary().toString(), "-p", dir.toString(), "-c", conf.toString(), "-e", "stderr"));
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("nginx.out").toFile())
                .start();
        Procs.awaitPort(port, Duration.ofSeconds(10), p);
        return new Nginx(p, port);
    }

    int port() {
        return port;
    }

    /** The master and its workers. */
    List<Long> pids() {
        List<Long> all = new ArrayList<>();
        all.add(process.pid());
        all.addAll(Procs.children(process.pid()));
        return all;
    }

    long cpuMillis() {
        long sum = 0;
        for (long pid : pids()) {
            sum += Procs.cpuMillis(pid);
        }
        return sum;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy(); // SIGTERM: fast shutdown of master and workers
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
