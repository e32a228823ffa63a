package io.github.openaiproxy.benchmarks.load;

import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Flow;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The upstream client's floor: the proxy's own {@link UpstreamClient} (the one core picks by default,
 * Jetty's HttpClient, configured as core configures it) sending the benchmark's chat request to the stub with a fixed number in flight and
 * reading every body, for a while. Prints how many requests completed and its own CPU time, so its cost
 * per request can be set beside the container's and the proxy's.
 *
 * <p>{@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.HttpClientFloor
 * --port=STUB --connections=64 --seconds=10}
 */
public final class HttpClientFloor {
    private HttpClientFloor() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = Args.parse(args);
        int port = Integer.parseInt(o.get("port"));
        int inFlight = Integer.parseInt(o.getOrDefault("connections", "64"));
        double warmup = Double.parseDouble(o.getOrDefault("warmup", "3"));
        double seconds = Double.parseDouble(o.getOrDefault("seconds", "10"));
        UpstreamConfig config = UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:" + port));
        byte[] body = StubBodies.chatRequest(false);
        HttpHeaders headers = java.net.http.HttpHeaders.of(
                Map.of(
                        "Content-Type", List.of("application/json"),
                        "Authorization", List.of("Bearer sk-benchmark"),
                        "Accept", List.of("application/json")),
                (a, b) -> true);
        UpstreamRequest request =
                new UpstreamRequest("POST", config.resolve("/v1/chat/completions", null), headers, body);
        AtomicLong done = new AtomicLong();
        // Round trips of the measured part, for percentiles (meaningful with one request in flight).
        long[] latencies = new long[1 << 20];
        java.util.concurrent.atomic.AtomicInteger latencyCount = new java.util.concurrent.atomic.AtomicInteger();
        AtomicLong failed = new AtomicLong();
        Semaphore slots = new Semaphore(inFlight);
        long pid = ProcessHandle.current().pid();
        try (UpstreamClient client = UpstreamClient.create(config)) {
            long warmEnd = System.nanoTime() + (long) (warmup * 1e9);
            long end = warmEnd + (long) (seconds * 1e9);
            long cpuStart = -1;
            long countStart = 0;
            while (System.nanoTime() < end) {
                if (cpuStart < 0 && System.nanoTime() >= warmEnd) {
                    cpuStart = Procs.cpuMillis(pid);
                    countStart = done.get();
                }
                slots.acquire();
                long sentAt = System.nanoTime();
                boolean measured = cpuStart >= 0;
                Runnable finished = () -> {
                    if (measured) {
                        int i = latencyCount.getAndIncrement();
                        if (i < latencies.length) {
                            latencies[i] = System.nanoTime() - sentAt;
                        }
                    }
                    slots.release();
                };
                client.send(request).whenComplete((r, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                        slots.release();
                    } else {
                        drain(r, done, failed, finished);
                    }
                });
            }
            slots.acquire(inFlight);
            long cpu = Procs.cpuMillis(pid) - cpuStart;
            long[] measured = java.util.Arrays.copyOf(latencies, Math.min(latencies.length, latencyCount.get()));
            System.out.println("FLOOR_RESULT requests=" + (done.get() - countStart) + " failed=" + failed.get()
                    + " cpu_ms=" + cpu + " seconds=" + seconds + " p50_us="
                    + Math.round(Stats.percentile(measured, 50) / 1000) + " p99_us="
                    + Math.round(Stats.percentile(measured, 99) / 1000));
        }
    }

    private static void drain(UpstreamResponse r, AtomicLong done, AtomicLong failed, Runnable finished) {
        r.body().subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {}

            @Override
            public void onError(Throwable t) {
                failed.incrementAndGet();
                finished.run();
            }

            @Override
            public void onComplete() {
                if (r.status() == 200) {
                    done.incrementAndGet();
                } else {
                    failed.incrementAndGet();
                }
                finished.run();
            }
        });
    }
}
