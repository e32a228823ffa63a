package io.github.openaiproxy.benchmarks.load;

import java.time.Duration;
import java.util.Map;

/**
 * How much the load benchmark measures: {@code quick} (about a minute, one run of each measurement, fewer
 * streams) or {@code full} (several runs of each, 1,000 and 5,000 concurrent streams of 60 s).
 *
 * @param runs how many times each measurement is repeated (medians are reported)
 * @param warmup load on the proxy before anything is measured
 * @param wrkThreads wrk threads
 * @param connections wrk connections for the throughput runs
 * @param wrkDuration the length of one throughput run
 * @param latencyDuration the length of one single-connection latency run
 * @param sseStreams event streams per target and run for the streaming latency (full mode: 300, so that a
 *     run's p99 time to first event is its third-slowest stream; with 60 it was the slowest, a maximum)
 * @param sseEvents chunk events per stream (then {@code [DONE]})
 * @param ssePauseMs the stub's pause between events
 * @param sseConcurrency streams open at once in the streaming latency measurement
 * @param concurrentSteps the numbers of concurrent streams at which the proxy is measured
 * @param concurrentEvents events per concurrent stream, one a second
 * @param openRate new concurrent streams opened per second
 */
record Settings(
        String mode,
        int runs,
        Duration warmup,
        int wrkThreads,
        int connections,
        Duration wrkDuration,
        Duration latencyDuration,
        int sseStreams,
        int sseEvents,
        int ssePauseMs,
        int sseConcurrency,
        int[] concurrentSteps,
        int concurrentEvents,
        int openRate) {

    static Settings of(Map<String, String> opts) {
        boolean quick = opts.containsKey("quick") || "quick".equals(opts.get("mode"));
        Settings s = quick
                ? new Settings(
                        "quick",
                        1,
                        Duration.ofSeconds(2),
                        2,
                        64,
                        Duration.ofSeconds(2),
                        Duration.ofSeconds(1),
                        20,
                        5,
                        50,
                        5,
                        new int[] {200, 1000},
                        4,
                        1000)
                : new Settings(
                        "full",
                        3,
                        Duration.ofSeconds(30),
                        2,
                        64,
                        Duration.ofSeconds(10),
                        Duration.ofSeconds(8),
                        300,
                        10,
                        50,
                        6,
                        new int[] {1000, 5000},
                        60,
                        1000);
        if (opts.containsKey("runs")) {
            s = s.withRuns(Integer.parseInt(opts.get("runs")));
        }
        if (opts.containsKey("streams")) {
            String[] parts = opts.get("streams").split(",");
            int[] steps = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                steps[i] = Integer.parseInt(parts[i].strip());
            }
            s = new Settings(
                    s.mode,
                    s.runs,
                    s.warmup,
                    s.wrkThreads,
                    s.connections,
                    s.wrkDuration,
                    s.latencyDuration,
                    s.sseStreams,
                    s.sseEvents,
                    s.ssePauseMs,
                    s.sseConcurrency,
                    steps,
                    s.concurrentEvents,
                    s.openRate);
        }
        return s;
    }

    Settings withRuns(int n) {
        return new Settings(
                mode,
                n,
                warmup,
                wrkThreads,
                connections,
                wrkDuration,
                latencyDuration,
                sseStreams,
                sseEvents,
                ssePauseMs,
                sseConcurrency,
                concurrentSteps,
                concurrentEvents,
                openRate);
    }
}
