package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A pass-through ({@code /v1}) body streams to the upstream as the client sends it, on both containers and
 * both upstream clients: the upstream holds the first bytes while the client still holds the rest, gets the
 * body byte for byte with the client's {@code Content-Length} (or chunked when it declared none), and a
 * body that goes over the size limit on the way is answered 413 with the upstream call aborted.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StreamedPassThroughBodyHttpTest {
    private static final int FIVE_MB = 5 * 1024 * 1024;
    private static final int FIRST_PART = 256 * 1024;
    private static final long WAIT_SECONDS = 10;

    private BodyReadingUpstream upstream;
    private ProxyServer proxy;

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    private void start(String container, String client, long limit) throws IOException {
        upstream = BodyReadingUpstream.start();
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .maxBodySize(limit)
                .upstream(UpstreamConfig.defaults()
                        .withBaseUrl(upstream.baseUrl())
                        .withClient(UpstreamConfig.ClientKind.valueOf(client)))
                .build();
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
    }

    @ParameterizedTest(name = "{0} container, {1} client, declared length {2}")
    @CsvSource({"tomcat,JDK,true", "tomcat,JETTY,false", "jetty,JETTY,true", "jetty,JDK,false"})
    void aLargeBodyStreamsToTheUpstreamByteForByte(String container, String client, boolean declared) throws Exception {
        start(container, client, 8L * 1024 * 1024);
        byte[] body = new byte[FIVE_MB];
        new Random(7).nextBytes(body);

        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + (declared ? "Content-Length: " + FIVE_MB : "Transfer-Encoding: chunked") + "\r\n\r\n");
            send(c, body, 0, FIRST_PART, declared);
            // A slow client: the rest waits until the upstream holds the first part, which it can only when
            // the proxy streams (a proxy that reads the body whole would wait for the rest).
            assertThat(upstream.firstBytes.await(WAIT_SECONDS, TimeUnit.SECONDS))
                    .as("the upstream got the first bytes while the client still held the rest")
                    .isTrue();
            send(c, body, FIRST_PART, body.length, declared);
            if (!declared) {
                c.write("0\r\n\r\n");
            }
            RawHttp.Response response = c.readResponse();
            assertThat(response.status()).isEqualTo(200);
        }

        Received received = upstream.received.get(WAIT_SECONDS, TimeUnit.SECONDS);
        assertThat(received.complete()).isTrue();
        assertThat(received.body()).isEqualTo(body);
        if (declared) {
            assertThat(received.headers()).containsEntry("content-length", Integer.toString(FIVE_MB));
        } else {
            assertThat(received.headers()).doesNotContainKey("content-length");
            assertThat(received.headers().get("transfer-encoding")).containsIgnoringCase("chunked");
        }
    }

    @ParameterizedTest(name = "{0} container, {1} client")
    @CsvSource({"tomcat,JDK", "tomcat,JETTY", "jetty,JETTY", "jetty,JDK"})
    void aStreamedBodyOverTheLimitIs413AndTheUpstreamCallIsAborted(String container, String client) throws Exception {
        int limit = 1024 * 1024;
        start(container, client, limit);
        byte[] body = new byte[limit + FIRST_PART];
        new Random(8).nextBytes(body);

        try (RawHttp c = RawHttp.connect(proxy.port())) {
            // Chunked, so no declared length gives it away: the limit is counted as the body passes.
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            send(c, body, 0, FIRST_PART, false);
            assertThat(upstream.firstBytes.await(WAIT_SECONDS, TimeUnit.SECONDS))
                    .as("the upstream call was under way")
                    .isTrue();
            // Over the limit; the body never ends. The proxy may answer 413 and close while this is still
            // being written: a write that then fails is the client's problem, not the test's.
            try {
                send(c, body, FIRST_PART, body.length, false);
            } catch (java.io.UncheckedIOException refusedMidway) {
                // the answer is read below
            }
            RawHttp.Response response = c.readResponse();
            assertThat(response.status()).isEqualTo(413);
            assertThat(new String(response.body(), StandardCharsets.UTF_8)).contains("request_too_large");
        }

        Received received = upstream.received.get(WAIT_SECONDS, TimeUnit.SECONDS);
        assertThat(received.complete()).as("the upstream's request was cut off").isFalse();
        assertThat(received.body().length).isLessThanOrEqualTo(limit);
    }

    @ParameterizedTest(name = "{0} container")
    @CsvSource({"tomcat", "jetty"})
    void theJettyClientSendsTheRequestWithTheBodysFirstBytesNotBefore(String container) throws Exception {
        start(container, "JETTY", 8L * 1024 * 1024);
        byte[] body = "{\"input\":\"hello\"}".getBytes(StandardCharsets.US_ASCII);

        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n");
            // Head and first buffer go out in one write: nothing upstream while the client holds its body
            // (and no upstream connection taken for a client that never sends it).
            assertThat(upstream.requestLine.await(300, TimeUnit.MILLISECONDS))
                    .as("the upstream got a request before the client sent any of its body")
                    .isFalse();
            c.write(body);
            RawHttp.Response response = c.readResponse();
            assertThat(response.status()).isEqualTo(200);
        }

        Received received = upstream.received.get(WAIT_SECONDS, TimeUnit.SECONDS);
        assertThat(received.complete()).isTrue();
        assertThat(received.body()).isEqualTo(body);
    }

    /** Writes {@code body[from, to)} in 64 KiB pieces, as plain bytes or as chunks. */
    private static void send(RawHttp c, byte[] body, int from, int to, boolean plain) {
        for (int i = from; i < to; i += 64 * 1024) {
            byte[] piece = Arrays.copyOfRange(body, i, Math.min(to, i + 64 * 1024));
            if (plain) {
                c.write(piece);
            } else {
                c.writeChunk(piece);
            }
        }
    }

    /** What the upstream read: its headers, the body bytes and whether the body ended properly. */
    record Received(Map<String, String> headers, byte[] body, boolean complete) {}

    /**
     * An upstream that reads one request's body as it arrives (the shared stub reads it whole first, which
     * would hide whether the proxy streams): it says when the first body bytes are in, and answers
     * {@code 200 {}} once the body is complete.
     */
    static final class BodyReadingUpstream implements AutoCloseable {
        final CountDownLatch requestLine = new CountDownLatch(1);
        final CountDownLatch firstBytes = new CountDownLatch(1);
        final CompletableFuture<Received> received = new CompletableFuture<>();
        private final ServerSocket server;

        private BodyReadingUpstream(ServerSocket server) {
            this.server = server;
        }

        static BodyReadingUpstream start() throws IOException {
            BodyReadingUpstream u = new BodyReadingUpstream(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
            Thread t = new Thread(u::serve, "body-reading-upstream");
            t.setDaemon(true);
            t.start();
            return u;
        }

        URI baseUrl() {
            return URI.create("http://127.0.0.1:" + server.getLocalPort());
        }

        private void serve() {
            try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
                readLine(in); // request line
                requestLine.countDown();
                for (String line = readLine(in); line != null && !line.isEmpty(); line = readLine(in)) {
                    int colon = line.indexOf(':');
                    headers.put(
                            line.substring(0, colon).strip().toLowerCase(Locale.ROOT),
                            line.substring(colon + 1).strip());
                }
                ByteArrayOutputStream body = new ByteArrayOutputStream();
                boolean complete;
                try {
                    complete = headers.containsKey("content-length")
                            ? readExactly(in, Long.parseLong(headers.get("content-length")), body)
                            : readChunked(in, body);
                } catch (IOException e) {
                    complete = false; // reset by the proxy: aborted
                }
                received.complete(new Received(headers, body.toByteArray(), complete));
                if (complete) {
                    OutputStream out = s.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                            .getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
            } catch (IOException e) {
                received.completeExceptionally(e);
            }
        }

        private boolean readExactly(InputStream in, long length, ByteArrayOutputStream body) throws IOException {
            byte[] buffer = new byte[16 * 1024];
            long left = length;
            while (left > 0) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (n < 0) {
                    return false;
                }
                body.write(buffer, 0, n);
                firstBytes.countDown();
                left -= n;
            }
            return true;
        }

        private boolean readChunked(InputStream in, ByteArrayOutputStream body) throws IOException {
            while (true) {
                String size = readLine(in);
                if (size == null) {
                    return false;
                }
                int n = Integer.parseInt(size.split(";")[0].strip(), 16);
                if (n == 0) {
                    return readLine(in) != null;
                }
                if (!readExactly(in, n, body)) {
                    return false;
                }
                if (readLine(in) == null) {
                    return false;
                }
            }
        }

        private static String readLine(InputStream in) throws IOException {
            StringBuilder line = new StringBuilder();
            for (int b = in.read(); b >= 0; b = in.read()) {
                if (b == '\n') {
                    int end = line.length();
                    return end > 0 && line.charAt(end - 1) == '\r' ? line.substring(0, end - 1) : line.toString();
                }
                line.append((char) b);
            }
            return null;
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
