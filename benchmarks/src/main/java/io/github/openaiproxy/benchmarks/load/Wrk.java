package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs wrk with the POST script and reads its summary line (and, through the shell's times, its CPU). */
final class Wrk {
    /**
     * One wrk run.
     *
     * @param requests completed requests
     * @param seconds the run's length
     * @param errors connect, read, write and timeout errors plus non-2xx answers
     * @param p50Us median latency in microseconds
     * @param p99Us 99th percentile latency in microseconds
     * @param cpuMillis wrk's own CPU time (user plus system)
     */
    record Result(
            long requests,
            double seconds,
            long errors,
            long non2xx,
            long p50Us,
            long p90Us,
            long p99Us,
            long p999Us,
            long maxUs,
            long cpuMillis) {
        double rps() {
            return requests / seconds;
        }
    }

    private static final Pattern RESULT = Pattern.compile("WRK_RESULT (\\{.*})");
    private static final Pattern TIMES = Pattern.compile("(\\d+)m([\\d.]+)s (\\d+)m([\\d.]+)s");

    private final Path script;

    Wrk(Path script) {
        this.script = script;
    }

    Result run(String url, Path body, int threads, int connections, Duration duration)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(
                "sh",
                "-c",
                "wrk \"$@\"; s=$?; times; exit $s",
                "wrk",
                "-t" + threads,
                "-c" + connections,
                "-d" + duration.toSeconds() + "s",
                "--timeout",
                "5s",
                "-s",
                script.toString(),
                url));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("WRK_BODY", body.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(duration.toSeconds() + 60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("wrk failed: " + out);
        }
        Matcher m = RESULT.matcher(out);
        if (!m.find()) {
            throw new IllegalStateException("no wrk summary in: " + out);
        }
        String json = m.group(1);
        long requests = field(json, "requests");
        long status = field(json, "status");
        long errors =
                field(json, "connect") + field(json, "read") + field(json, "write") + field(json, "timeout") + status;
        long cpu = 0;
        Matcher t = TIMES.matcher(out.substring(m.end()));
        // times prints the shell's own times, then its children's: take the second line.
        if (t.find() && t.find()) {
            cpu = Math.round((Long.parseLong(t.group(1)) * 60 + Double.parseDouble(t.group(2))) * 1000
                    + (Long.parseLong(t.group(3)) * 60 + Double.parseDouble(t.group(4))) * 1000);
        }
        return new Result(
                requests,
                field(json, "duration_us") / 1e6,
                errors,
                status,
                field(json, "p50_us"),
                field(json, "p90_us"),
                field(json, "p99_us"),
                field(json, "p999_us"),
                field(json, "max_us"),
                cpu);
    }

    private static long field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":(-?[\\d.]+)").matcher(json);
        if (!m.find()) {
            throw new IllegalStateException("no " + name + " in " + json);
        }
        return Math.round(Double.parseDouble(m.group(1)));
    }
}
