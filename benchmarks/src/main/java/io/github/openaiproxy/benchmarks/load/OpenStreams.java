package io.github.openaiproxy.benchmarks.load;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Opens many event streams against a running proxy (or the stub) and keeps them open until they end,
 * for looking at the server by hand while they run ({@code jcmd PID GC.class_histogram}, JFR, ...).
 *
 * <p>{@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.OpenStreams
 * --port=8787 --streams=1000 --events=60 --pause-ms=1000 --rate=1000}
 */
public final class OpenStreams {
    private OpenStreams() {}

    public static void main(String[] args) throws InterruptedException {
        Map<String, String> o = Args.parse(args);
        InetSocketAddress to = new InetSocketAddress("127.0.0.1", Integer.parseInt(o.getOrDefault("port", "8787")));
        int streams = Integer.parseInt(o.getOrDefault("streams", "1000"));
        int events = Integer.parseInt(o.getOrDefault("events", "60"));
        int pause = Integer.parseInt(o.getOrDefault("pause-ms", "1000"));
        int rate = Integer.parseInt(o.getOrDefault("rate", "1000"));
        byte[] req = SseClient.request(
                to, "/v1/chat/completions?events=" + events + "&pause_ms=" + pause, StubBodies.chatRequest(true));
        List<SseClient.Stream> all = new ArrayList<>();
        try (SseClient client = new SseClient()) {
            long start = System.nanoTime();
            for (int i = 0; i < streams; i++) {
                all.add(client.open(to, req, events, false));
                long wait = start + (long) (i + 1) * 1_000_000_000L / rate - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            System.out.println("opened " + streams + " streams");
            while (client.finished() < streams) {
                Thread.sleep(1000);
                long receiving = all.stream().filter(s -> s.events > 0).count();
                System.out.println("receiving " + receiving + ", ended " + client.finished() + why(all));
            }
        }
        long ok = all.stream().filter(SseClient.Stream::receivedAll).count();
        System.out.println(ok + "/" + streams + " streams received every event");
    }

    /** Why the streams that ended early ended: their status or error, counted; empty while none did. */
    private static String why(List<SseClient.Stream> all) {
        java.util.Map<String, Long> reasons = all.stream()
                .filter(st -> st.ended && !st.receivedAll())
                .collect(java.util.stream.Collectors.groupingBy(
                        st -> st.error != null ? st.error : "status " + st.status,
                        java.util.TreeMap::new,
                        java.util.stream.Collectors.counting()));
        return reasons.isEmpty() ? "" : " " + reasons;
    }
}
