package io.github.openaiproxy.benchmarks.load;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The time to the first event of a streamed chat through the proxy, per model, the models taken in turn (one
 * request each, round after round) so that what they are compared on shares the same moments of the machine:
 * routed, for example, to an upstream that answers, and to an upstream that refuses every request and falls
 * back to that one (issue 13's failover row). One connection, one request at a time; the time runs from sending
 * the request to reading the first {@code data:} line, and the rest of the stream is read before the next.
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.FailoverTtfe
 * --url=http://127.0.0.1:19002/v1/chat/completions --models=gpt-4o-mini,fail-default --rounds=500 --warm=100}.
 * Prints per model the first request's time (before any warm-up: the breaker still closed), then p50, p90, p99
 * and max over the measured rounds, and the {@code OpenAI-Proxy-Attempts} header of the last answer.
 */
public final class FailoverTtfe {
    private FailoverTtfe() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = Args.parse(args);
        URI url = URI.create(opts.getOrDefault("url", "http://127.0.0.1:19002/v1/chat/completions"));
        List<String> models =
                Arrays.asList(opts.getOrDefault("models", "gpt-4o-mini").split(","));
        int rounds = Integer.parseInt(opts.getOrDefault("rounds", "500"));
        int warm = Integer.parseInt(opts.getOrDefault("warm", "100"));
        HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
        int m = models.size();
        long[] first = new long[m];
        long[][] times = new long[m][rounds];
        String[] attempts = new String[m];
        for (int round = -warm - 1; round < rounds; round++) {
            for (int i = 0; i < m; i++) {
                Result r = once(client, url, models.get(i));
                if (round == -warm - 1) {
                    first[i] = r.nanos;
                } else if (round >= 0) {
                    times[i][round] = r.nanos;
                }
                attempts[i] = r.attempts;
            }
        }
        System.out.printf(
                Locale.ROOT,
                "%-16s %10s %9s %9s %9s %10s  %s%n",
                "model",
                "first_ms",
                "p50_us",
                "p90_us",
                "p99_us",
                "max_us",
                "attempts (last answer)");
        for (int i = 0; i < m; i++) {
            long[] t = times[i].clone();
            Arrays.sort(t);
            System.out.printf(
                    Locale.ROOT,
                    "%-16s %10.1f %9d %9d %9d %10d  %s%n",
                    models.get(i),
                    first[i] / 1e6,
                    pct(t, 0.50) / 1000,
                    pct(t, 0.90) / 1000,
                    pct(t, 0.99) / 1000,
                    t[t.length - 1] / 1000,
                    attempts[i]);
        }
    }

    private record Result(long nanos, String attempts) {}

    private static Result once(HttpClient client, URI url, String model) throws Exception {
        byte[] body = ("{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
                        + "\"Explain server-sent events in one paragraph.\"}]}")
                .getBytes(StandardCharsets.UTF_8);
        HttpRequest request = HttpRequest.newBuilder(url)
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        long sent = System.nanoTime();
        HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        long firstEvent = -1;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            String line;
            List<String> tail = new ArrayList<>(1);
            while ((line = in.readLine()) != null) {
                if (firstEvent < 0 && line.startsWith("data:")) {
                    firstEvent = System.nanoTime();
                }
                if (tail.isEmpty() && line.contains("\"error\"")) {
                    tail.add(line);
                }
            }
            if (response.statusCode() != 200 || firstEvent < 0) {
                throw new IllegalStateException(
                        model + ": status " + response.statusCode() + (tail.isEmpty() ? "" : " " + tail.get(0)));
            }
        }
        return new Result(
                firstEvent - sent,
                response.headers().firstValue("openai-proxy-attempts").orElse("-"));
    }

    private static long pct(long[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }
}
