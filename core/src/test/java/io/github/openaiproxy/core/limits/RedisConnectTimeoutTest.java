package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A Redis address that drops packets (a firewall, a host gone from the network) holds start-up no longer than
 * {@code limits.store-timeout}: the store's start-up connect waits that long (its URI's timeout), not Lettuce's
 * own 10 s connect timeout, then the store starts down and connects in the background. The blackhole is a
 * listening socket whose accept queue is full: the kernel drops further SYNs, so a connect hangs as it would on a
 * lost route (with a 30 s store timeout the connect gives up after Lettuce's 10 s).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RedisConnectTimeoutTest {
    private final List<Socket> queued = new ArrayList<>();
    private ServerSocket blackhole;

    @AfterEach
    void close() throws IOException {
        for (Socket s : queued) {
            s.close();
        }
        if (blackhole != null) {
            blackhole.close();
        }
    }

    /** A port on 127.0.0.1 whose connects hang: its accept queue is filled and nothing accepts. */
    private int blackholePort() throws IOException {
        blackhole = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), blackhole.getLocalPort());
        for (int i = 0; i < 20; i++) {
            Socket s = new Socket();
            try {
                s.connect(address, 300);
                queued.add(s);
            } catch (SocketTimeoutException full) {
                s.close();
                return blackhole.getLocalPort();
            }
        }
        throw new AssertionError("the accept queue never filled: no blackhole here");
    }

    /**
     * Loads the Redis client's classes and starts its event loop against a port that refuses at once, so that the
     * measured start-up is the wait for the connection, not a cold JVM's class loading on a loaded build machine
     * (which took it past the bound once).
     */
    private static void warmUp() throws IOException {
        int refusing;
        try (ServerSocket closed = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            refusing = closed.getLocalPort();
        }
        RedisLimitStore.connect("redis://127.0.0.1:" + refusing, Duration.ofSeconds(1))
                .close();
    }

    @Test
    void aRedisThatDropsPacketsStartsTheStoreDownWithinTheStoreTimeout() throws Exception {
        int port = blackholePort();
        warmUp();

        long start = System.nanoTime();
        RedisLimitStore store = RedisLimitStore.connect("redis://127.0.0.1:" + port, Duration.ofSeconds(1));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        try {
            assertThat(took).as("start-up waited for the connection").isLessThan(Duration.ofSeconds(4));
            long before = System.nanoTime();
            Throwable failed = null;
            try {
                store.reserve(new Reservation(
                                "client",
                                List.of(new Charge(
                                        new Counter("requests", 10, new Window.Rolling(Duration.ofMinutes(1))), 1)),
                                null,
                                System.currentTimeMillis()))
                        .get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                failed = e.getCause();
            }
            assertThat(failed).as("the store is down: its calls fail").isNotNull();
            assertThat(Duration.ofNanos(System.nanoTime() - before)).isLessThan(Duration.ofSeconds(2));
        } finally {
            store.close();
        }
    }
}
