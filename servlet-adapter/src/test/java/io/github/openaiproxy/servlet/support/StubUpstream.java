package io.github.openaiproxy.servlet.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A hand-written HTTP/1.1 upstream on a plain {@link ServerSocket}, for what WireMock cannot script:
 * writes paced by the test, bytes split at chosen places, abrupt resets, and noticing when the proxy
 * drops the connection. One exchange per connection (every answer says {@code Connection: close}).
 *
 * <p>After the request is read, a watcher thread blocks on the socket's input: the proxy sends nothing
 * more on this connection, so the read returns only when the proxy closes or resets it. That moment is
 * {@link Exchange#peerClosed()}.
 */
public final class StubUpstream implements AutoCloseable {
    /** What the stub does with one request. */
    @FunctionalInterface
    public interface Handler {
        void handle(Exchange exchange) throws Exception;
    }

    private final ServerSocket server;
    private final Handler handler;
    private final BlockingQueue<Exchange> exchanges = new LinkedBlockingQueue<>();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final List<Throwable> handlerFailures = new CopyOnWriteArrayList<>();
    private final Thread acceptor;

    private StubUpstream(Handler handler) throws IOException {
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.handler = handler;
        this.acceptor = daemon("stub-upstream-accept", this::acceptLoop);
        acceptor.start();
    }

    /** Starts a stub on 127.0.0.1 and an ephemeral port. */
    public static StubUpstream start(Handler handler) {
        try {
            return new StubUpstream(handler);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public URI baseUrl() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    /** The next exchange whose request has been read, waiting up to {@code timeout}. */
    public Exchange awaitExchange(Duration timeout) throws InterruptedException {
        Exchange e = exchanges.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (e == null) {
            throw new AssertionError("the upstream received no request within " + timeout);
        }
        return e;
    }

    /** Failures thrown by the handler other than the expected broken connection. */
    public List<Throwable> handlerFailures() {
        return handlerFailures;
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                s.setTcpNoDelay(true);
                sockets.add(s);
                daemon("stub-upstream-conn", () -> serve(s)).start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket socket) {
        Exchange exchange;
        try {
            exchange = new Exchange(socket, readRequest(socket.getInputStream()));
        } catch (IOException e) {
            closeQuietly(socket);
            return;
        }
        exchange.watchPeer();
        exchanges.add(exchange);
        try {
            handler.handle(exchange);
        } catch (IOException e) {
            exchange.writeFailed(e); // the proxy went away while we were writing: tests look at this
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception | AssertionError e) {
            handlerFailures.add(e);
        } finally {
            exchange.handlerDone.countDown();
            closeQuietly(socket);
        }
    }

    @Override
    public void close() {
        closeQuietly(server);
        sockets.forEach(StubUpstream::closeQuietly);
        acceptor.interrupt();
    }

    // --- the request

    /** A request as the stub read it. */
    public record RecordedRequest(String method, String target, Map<String, List<String>> headers, byte[] body) {
        public Optional<String> header(String name) {
            List<String> v = headers.get(name);
            return v == null || v.isEmpty() ? Optional.empty() : Optional.of(v.get(0));
        }

        public String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private static RecordedRequest readRequest(InputStream in) throws IOException {
        String requestLine = readLine(in);
        if (requestLine == null || requestLine.isEmpty()) {
            throw new IOException("no request");
        }
        Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        String line;
        while ((line = readLine(in)) != null && !line.isEmpty()) {
            int colon = line.indexOf(':');
            headers.computeIfAbsent(line.substring(0, colon).strip(), k -> new java.util.ArrayList<>())
                    .add(line.substring(colon + 1).strip());
        }
        String[] parts = requestLine.split(" ");
        byte[] body = new byte[0];
        List<String> length = headers.get("content-length");
        if (length != null) {
            body = in.readNBytes(Integer.parseInt(length.get(0)));
        } else if (headers.getOrDefault("transfer-encoding", List.of()).stream()
                .anyMatch(v -> v.toLowerCase(Locale.ROOT).contains("chunked"))) {
            body = readChunked(in);
        }
        return new RecordedRequest(parts[0], parts[1], headers, body);
    }

    private static byte[] readChunked(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            int size = Integer.parseInt(readLine(in).split(";")[0].strip(), 16);
            if (size == 0) {
                while (!readLine(in).isEmpty()) {
                    // trailers
                }
                return out.toByteArray();
            }
            out.write(in.readNBytes(size));
            readLine(in);
        }
    }

    /** Reads an ISO-8859-1 line ending in CRLF or LF; {@code null} at end of stream. */
    static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int n = sb.length();
                return n > 0 && sb.charAt(n - 1) == '\r' ? sb.substring(0, n - 1) : sb.toString();
            }
            sb.append((char) c);
        }
        return sb.length() == 0 ? null : sb.toString();
    }

    // --- one exchange

    /** One request and the means to answer it. */
    public static final class Exchange {
        private final Socket socket;
        private final RecordedRequest request;
        private final OutputStream out;
        private final CountDownLatch peerClosed = new CountDownLatch(1);
        private final CountDownLatch handlerDone = new CountDownLatch(1);
        private volatile long peerClosedAt;
        private volatile IOException writeFailure;
        private boolean chunked;

        Exchange(Socket socket, RecordedRequest request) throws IOException {
            this.socket = socket;
            this.request = request;
            this.out = socket.getOutputStream();
        }

        public RecordedRequest request() {
            return request;
        }

        private void watchPeer() {
            daemon("stub-upstream-watch", () -> {
                        try {
                            InputStream in = socket.getInputStream();
                            while (in.read() != -1) {
                                // the proxy sends nothing after its request; drain whatever comes
                            }
                        } catch (IOException e) {
                            // reset by the proxy, or closed by us
                        }
                        peerClosedAt = System.nanoTime();
                        peerClosed.countDown();
                    })
                    .start();
        }

        /**
         * Whether the proxy closed (or reset) this connection within {@code timeout}. Also true once the
         * stub closed it itself: ask only while the handler is still running.
         */
        public boolean awaitPeerClosed(Duration timeout) throws InterruptedException {
            return peerClosed.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }

        public boolean peerClosed() {
            return peerClosed.getCount() == 0;
        }

        /** {@link System#nanoTime()} when the connection was seen closed. */
        public long peerClosedAt() {
            return peerClosedAt;
        }

        /** Waits until the handler has returned (the connection is then closed). */
        public boolean awaitHandlerDone(Duration timeout) throws InterruptedException {
            return handlerDone.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }

        /** The write error that ended the handler, if the proxy went away while it was writing. */
        public Optional<IOException> writeFailure() {
            return Optional.ofNullable(writeFailure);
        }

        void writeFailed(IOException e) {
            writeFailure = e;
        }

        /**
         * Writes the status line and headers. Without a {@code Content-Length} among them the body is
         * sent chunked ({@link #chunk}, {@link #endChunks}).
         */
        public void head(int status, String... headerPairs) throws IOException {
            StringBuilder sb = new StringBuilder("HTTP/1.1 ")
                    .append(status)
                    .append(' ')
                    .append(reason(status))
                    .append("\r\n");
            boolean hasLength = false;
            for (int i = 0; i < headerPairs.length; i += 2) {
                sb.append(headerPairs[i])
                        .append(": ")
                        .append(headerPairs[i + 1])
                        .append("\r\n");
                hasLength |= headerPairs[i].equalsIgnoreCase("content-length");
            }
            chunked = !hasLength;
            if (chunked) {
                sb.append("Transfer-Encoding: chunked\r\n");
            }
            sb.append("Connection: close\r\n\r\n");
            out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /** Writes one chunk (or, after a {@code Content-Length} head, plain bytes) and flushes. */
        public void chunk(byte[] bytes) throws IOException {
            if (chunked) {
                out.write((Integer.toHexString(bytes.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                out.write(bytes);
                out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
            } else {
                out.write(bytes);
            }
            out.flush();
        }

        public void chunk(String text) throws IOException {
            chunk(text.getBytes(StandardCharsets.UTF_8));
        }

        /** The last chunk: the body is complete. */
        public void endChunks() throws IOException {
            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /** A complete answer with a {@code Content-Length}. */
        public void respond(int status, String contentType, byte[] body) throws IOException {
            head(status, "Content-Type", contentType, "Content-Length", Integer.toString(body.length));
            out.write(body);
            out.flush();
        }

        /** Resets the connection (RST, not FIN): what a crashed upstream or a middlebox does. */
        public void reset() throws IOException {
            socket.setSoLinger(true, 0);
            socket.close();
        }

        private static String reason(int status) {
            return switch (status) {
                case 200 -> "OK";
                case 401 -> "Unauthorized";
                case 429 -> "Too Many Requests";
                case 500 -> "Internal Server Error";
                default -> "Status";
            };
        }
    }

    private static Thread daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            if (!(e instanceof SocketException) && !(e instanceof IOException)) {
                throw new IllegalStateException(e);
            }
        }
    }
}
