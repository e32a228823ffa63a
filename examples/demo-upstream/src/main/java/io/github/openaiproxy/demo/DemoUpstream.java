package io.github.openaiproxy.demo;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A local fake of the OpenAI API that answers canned, clearly labelled replies in OpenAI's exact wire format,
 * so the proxy, its examples and the official SDKs can run offline.
 *
 * <p>Routes, all needing an {@code Authorization: Bearer <any key>} header:
 *
 * <ul>
 *   <li>{@code POST /v1/chat/completions}: a reply echoing the last user message, whole or streamed as
 *       server-sent events with a pause between tokens;
 *   <li>{@code POST /v1/responses}: the same reply as a Responses API object or event stream;
 *   <li>{@code POST /v1/images/generations}: SVG {@code data:} URLs or base64 PNGs labelled "DEMO";
 *   <li>{@code POST /v1/embeddings}: deterministic unit vectors derived from a hash of each input;
 *   <li>{@code GET /v1/models} and {@code GET /v1/models/{id}}: a few well-known model ids.
 * </ul>
 *
 * <p>Each answer carries {@code x-demo-upstream: true}, an {@code x-request-id} and {@code x-ratelimit-*}
 * headers. Errors use OpenAI's {@code {"error":{...}}} shape. Instances are independent: several may run in
 * one JVM.
 *
 * <pre>{@code
 * try (DemoUpstream upstream = DemoUpstream.start()) {
 *     URI base = upstream.baseUrl(); // http://127.0.0.1:PORT; SDKs take base + "/v1"
 * }
 * }</pre>
 */
public final class DemoUpstream implements AutoCloseable {
    /** The port {@link #main} listens on when neither an argument nor {@value #PORT_ENV} names one. */
    public static final int DEFAULT_PORT = 8788;
    /** The environment variable {@link #main} reads its port from. */
    public static final String PORT_ENV = "DEMO_UPSTREAM_PORT";
    /** The pause between streamed events by default: about the pace of a real model typing. */
    public static final Duration DEFAULT_TOKEN_PAUSE = Duration.ofMillis(40);
    /** The worker threads by default; each open stream holds one for its length. */
    public static final int DEFAULT_THREADS = 8;

    private final HttpServer server;
    private final ExecutorService executor;
    private final URI baseUrl;
    private final Duration tokenPause;

    private DemoUpstream(HttpServer server, ExecutorService executor, Duration tokenPause) {
        this.server = server;
        this.executor = executor;
        this.tokenPause = tokenPause;
        this.baseUrl = baseUrlOf(server.getAddress());
    }

    /** Starts on 127.0.0.1 at an ephemeral port with the defaults. */
    public static DemoUpstream start() {
        return builder().start();
    }

    /** Starts on the given address (port 0 for an ephemeral one) with the defaults. */
    public static DemoUpstream start(InetSocketAddress address) {
        return builder().address(address).start();
    }

    /** A builder for a server with another address, token pause or thread count. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The root URL, without {@code /v1}, for example {@code http://127.0.0.1:8788}. A wildcard bind address is
     * given as 127.0.0.1, which is reachable.
     */
    public URI baseUrl() {
        return baseUrl;
    }

    /** The bound address, with the actual port when an ephemeral one was asked for. */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    /** The pause between streamed events. */
    public Duration tokenPause() {
        return tokenPause;
    }

    /** Stops listening and ends open streams; safe to call more than once. */
    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow(); // interrupts streams in their pause, which then end cleanly
        try {
            executor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "DemoUpstream[" + baseUrl + "]";
    }

    /**
     * Runs the demo upstream on 127.0.0.1 until the process ends. The port is the first argument, else the
     * {@value #PORT_ENV} environment variable, else {@value #DEFAULT_PORT}.
     */
    public static void main(String[] args) {
        int port;
        try {
            port = port(args, System.getenv(PORT_ENV));
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println("usage: DemoUpstream [port]   (or set " + PORT_ENV + "; default " + DEFAULT_PORT + ")");
            System.exit(2);
            return;
        }
        DemoUpstream upstream = start(new InetSocketAddress("127.0.0.1", port));
        Runtime.getRuntime().addShutdownHook(new Thread(upstream::close, "demo-upstream-shutdown"));
        System.out.println(
                "Demo upstream (a canned, offline fake of the OpenAI API) is listening on " + upstream.baseUrl());
        System.out.println(
                "Point an OpenAI client at " + upstream.baseUrl() + "/v1 with any API key." + " Stop with Ctrl+C.");
    }

    /** The port from the first argument, else from the environment value, else the default. */
    static int port(String[] args, String env) {
        String text = args.length > 0 ? args[0] : env;
        if (text == null || text.isBlank()) {
            return DEFAULT_PORT;
        }
        try {
            int port = Integer.parseInt(text.strip());
            if (port >= 0 && port <= 65535) {
                return port;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("not a port number (0-65535): " + text);
    }

    private static URI baseUrlOf(InetSocketAddress bound) {
        InetAddress address = bound.getAddress();
        String host;
        if (address.isAnyLocalAddress()) {
            host = "127.0.0.1";
        } else if (address instanceof Inet6Address) {
            String literal = address.getHostAddress();
            int scope = literal.indexOf('%');
            host = "[" + (scope < 0 ? literal : literal.substring(0, scope)) + "]";
        } else {
            host = address.getHostAddress();
        }
        return URI.create("http://" + host + ":" + bound.getPort());
    }

    /** Settings for a {@link DemoUpstream}; each has a default, so {@code builder().start()} works. */
    public static final class Builder {
        private InetSocketAddress address = new InetSocketAddress("127.0.0.1", 0);
        private Duration tokenPause = DEFAULT_TOKEN_PAUSE;
        private int threads = DEFAULT_THREADS;

        private Builder() {}

        /** Where to listen; default 127.0.0.1 at an ephemeral port. */
        public Builder address(InetSocketAddress address) {
            this.address = Objects.requireNonNull(address, "address");
            return this;
        }

        /** The pause between streamed events; default {@link #DEFAULT_TOKEN_PAUSE}, zero for none (tests). */
        public Builder tokenPause(Duration tokenPause) {
            Objects.requireNonNull(tokenPause, "tokenPause");
            if (tokenPause.isNegative()) {
                throw new IllegalArgumentException("token pause must not be negative");
            }
            this.tokenPause = tokenPause;
            return this;
        }

        /** The worker threads, at least 1; default {@link #DEFAULT_THREADS}. */
        public Builder threads(int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("threads must be at least 1");
            }
            this.threads = threads;
            return this;
        }

        /**
         * Binds and starts the server.
         *
         * @throws UncheckedIOException when the address cannot be bound, for example a port in use
         */
        public DemoUpstream start() {
            HttpServer server;
            try {
                server = HttpServer.create(address, 0);
            } catch (IOException e) {
                throw new UncheckedIOException("demo upstream cannot listen on " + address, e);
            }
            ExecutorService executor = Executors.newFixedThreadPool(threads, daemonThreads(server.getAddress()));
            server.setExecutor(executor);
            server.createContext("/", new DemoHandler(tokenPause));
            server.start();
            return new DemoUpstream(server, executor, tokenPause);
        }

        /** Daemon workers, so an embedding application that forgets {@code close()} can still exit. */
        private static ThreadFactory daemonThreads(InetSocketAddress bound) {
            AtomicInteger count = new AtomicInteger();
            return task -> {
                Thread t = new Thread(task, "demo-upstream-" + bound.getPort() + "-" + count.incrementAndGet());
                t.setDaemon(true);
                return t;
            };
        }
    }
}
