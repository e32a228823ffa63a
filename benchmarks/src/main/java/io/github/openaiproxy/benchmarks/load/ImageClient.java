package io.github.openaiproxy.benchmarks.load;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The client of the image storage benchmark ({@code benchmarks/ab/image-storage.sh}).
 *
 * <ul>
 *   <li>{@code --mode=latency}: one request at a time, round-robin over three targets, {@code --requests} each
 *       after {@code --warm} each: a fetch of an image straight from the stub, an image generation through a
 *       proxy that does not store images ({@code --plain=<port>}), and one through a proxy that stores them
 *       ({@code --storing=<port>}). Prints p50 and p99 of each and the storing proxy's added time.
 *   <li>{@code --mode=burst}: {@code --concurrency} image generations at once through {@code --storing=<port>};
 *       prints how many were stored (a proxy link in the answer, no {@code x-openai-proxy-image-stored: false}).
 * </ul>
 */
public final class ImageClient {
    private static final String BODY = "{\"prompt\":\"a red fox\",\"model\":\"dall-e-2\"}";

    private ImageClient() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = Args.parse(args);
        HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build();
        int stub = Integer.parseInt(o.getOrDefault("stub", "19111"));
        int storing = Integer.parseInt(o.getOrDefault("storing", "19113"));
        if ("burst".equals(o.getOrDefault("mode", "latency"))) {
            burst(client, storing, Integer.parseInt(o.getOrDefault("concurrency", "100")));
            return;
        }
        int plain = Integer.parseInt(o.getOrDefault("plain", "19112"));
        int requests = Integer.parseInt(o.getOrDefault("requests", "300"));
        int warm = Integer.parseInt(o.getOrDefault("warm", "100"));
        HttpRequest fetch = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + stub + "/files/direct.png"))
                .build();
        HttpRequest viaPlain = generation(plain);
        HttpRequest viaStoring = generation(storing);
        long[][] times = new long[3][requests];
        for (int i = 0; i < warm + requests; i++) {
            HttpRequest[] order = {fetch, viaPlain, viaStoring};
            for (int t = 0; t < 3; t++) {
                long start = System.nanoTime();
                HttpResponse<byte[]> r = client.send(order[t], HttpResponse.BodyHandlers.ofByteArray());
                long took = System.nanoTime() - start;
                if (r.statusCode() != 200 || (t == 2 && !new String(r.body()).contains("/images/files/img_"))) {
                    throw new IllegalStateException("target " + t + " answered " + r.statusCode() + ": "
                            + new String(r.body(), 0, Math.min(300, r.body().length)));
                }
                if (i >= warm) {
                    times[t][i - warm] = took;
                }
            }
        }
        String[] names = {"fetch from the image host", "generation, images.store=none", "generation, filesystem"};
        double[] p50 = new double[3];
        for (int t = 0; t < 3; t++) {
            p50[t] = Stats.percentile(times[t], 50) / 1e6;
            System.out.printf(
                    "%-32s p50 %7.2f ms  p99 %7.2f ms%n", names[t], p50[t], Stats.percentile(times[t], 99) / 1e6);
        }
        System.out.printf(
                "storing adds %.2f ms at p50 = the fetch %.2f ms + %.2f ms%n",
                p50[2] - p50[1], p50[0], p50[2] - p50[1] - p50[0]);
    }

    private static HttpRequest generation(int port) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/images/generations"))
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(BODY))
                .build();
    }

    private static void burst(HttpClient client, int port, int concurrency) {
        AtomicInteger stored = new AtomicInteger();
        AtomicInteger notStored = new AtomicInteger();
        List<CompletableFuture<?>> all = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < concurrency; i++) {
            all.add(client.sendAsync(generation(port), HttpResponse.BodyHandlers.ofString())
                    .thenAccept(r -> {
                        boolean ok = r.statusCode() == 200
                                && r.body().contains("/images/files/img_")
                                && r.headers()
                                        .firstValue("x-openai-proxy-image-stored")
                                        .isEmpty();
                        (ok ? stored : notStored).incrementAndGet();
                    }));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
        System.out.printf(
                "%d concurrent generations: %d stored, %d not, in %.1f s%n",
                concurrency, stored.get(), notStored.get(), (System.nanoTime() - start) / 1e9);
    }
}
