package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Clients that leave mid-stream, many times a second, while other streams run: does a client's departure ever
 * hold up the others? Watchers hold long streams (an event every 10 ms) and record the gaps between their events;
 * aborters open streams, read one to three events and reset the connection. A thread of the proxy stuck in a
 * departure (a container callback, a lock) shows as watcher gaps far over 10 ms.
 *
 * <p>{@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.AbortStorm --port=8787
 * --watchers=20 --aborters=16 --seconds=40}; {@code benchmarks/ab/abort-storm.sh} runs it against two proxy jars.
 */
public final class AbortStorm {
    private AbortStorm() {}

    public static void main(String[] args) throws InterruptedException {
        Map<String, String> o = Args.parse(args);
        int port = Integer.parseInt(o.getOrDefault("port", "8787"));
        int watchers = Integer.parseInt(o.getOrDefault("watchers", "20"));
        int aborters = Integer.parseInt(o.getOrDefault("aborters", "16"));
        long end = System.nanoTime() + Long.parseLong(o.getOrDefault("seconds", "40")) * 1_000_000_000L;
        List<Long> gaps = new ArrayList<>();
        AtomicLong aborts = new AtomicLong();
        AtomicLong failures = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < watchers; i++) {
            threads.add(started(() -> {
                List<Long> mine = new ArrayList<>();
                while (System.nanoTime() < end) {
                    try (Socket s = open(port, 100_000, 10)) {
                        InputStream in = s.getInputStream();
                        long last = 0;
                        for (int n = 0; System.nanoTime() < end && readEvent(in); n++) {
                            long now = System.nanoTime();
                            if (n > 2) { // the first events also carry the stream's start
                                mine.add(now - last);
                            }
                            last = now;
                        }
                    } catch (IOException e) {
                        failures.incrementAndGet();
                    }
                }
                synchronized (gaps) {
                    gaps.addAll(mine);
                }
            }));
        }
        for (int i = 0; i < aborters; i++) {
            threads.add(started(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                while (System.nanoTime() < end) {
                    try {
                        Socket s = open(port, 1000, 2);
                        InputStream in = s.getInputStream();
                        for (int k = random.nextInt(1, 4); k > 0 && readEvent(in); k--) {
                            // read a few events, then leave
                        }
                        Thread.sleep(random.nextInt(0, 3));
                        s.setSoLinger(true, 0); // a reset, as a killed tab or a dropped network gives
                        s.close();
                        aborts.incrementAndGet();
                    } catch (IOException e) {
                        failures.incrementAndGet();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        long[] g = gaps.stream().mapToLong(Long::longValue).sorted().toArray();
        System.out.printf(
                "aborts %d, failures %d, watcher gaps %d: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms,"
                        + " over 40 ms %d%n",
                aborts.get(),
                failures.get(),
                g.length,
                g[g.length / 2] / 1e6,
                g[(int) (g.length * 0.99)] / 1e6,
                g[(int) (g.length * 0.999)] / 1e6,
                g[g.length - 1] / 1e6,
                Arrays.stream(g).filter(x -> x > 40_000_000L).count());
    }

    private static Thread started(Runnable r) {
        Thread t = new Thread(r);
        t.start();
        return t;
    }

    private static Socket open(int port, int events, int pauseMs) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setTcpNoDelay(true);
        byte[] body = StubBodies.chatRequest(true);
        String head = "POST /v1/chat/completions?events=" + events + "&pause_ms=" + pauseMs + " HTTP/1.1\r\n"
                + "Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
        OutputStream out = s.getOutputStream();
        out.write(head.getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        return s;
    }

    /** Reads through the blank line that ends the next {@code data:} event (chunk sizes are skipped as lines). */
    private static boolean readEvent(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        boolean data = false;
        for (int c; (c = in.read()) != -1; ) {
            if (c != '\n') {
                line.append((char) c);
                continue;
            }
            String l = line.toString().strip();
            line.setLength(0);
            if (l.startsWith("data:")) {
                data = true;
            } else if (l.isEmpty() && data) {
                return true;
            }
        }
        return false;
    }
}
