package io.github.openaiproxy.testsupport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;

/**
 * An upstream on a plain socket, for what WireMock cannot do: answer part of a body and break off, or
 * observe that the proxy closed the connection. The test drives it from its own thread.
 */
public final class RawUpstream implements AutoCloseable {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private final ServerSocket server;

    private RawUpstream(ServerSocket server) {
        this.server = server;
    }

    public static RawUpstream start() throws IOException {
        return new RawUpstream(new ServerSocket(0, 10, InetAddress.getLoopbackAddress()));
    }

    public URI baseUrl() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    /** Waits for the proxy to connect and reads its request (head and body). */
    public Connection accept() throws IOException {
        server.setSoTimeout((int) WAIT.toMillis());
        Socket s = server.accept();
        Connection c = new Connection(s);
        c.readRequest();
        return c;
    }

    @Override
    public void close() throws IOException {
        server.close();
    }

    /** One accepted connection. */
    public static final class Connection implements AutoCloseable {
        private final Socket socket;
        private String requestHead;

        private Connection(Socket socket) {
            this.socket = socket;
        }

        public String requestHead() {
            return requestHead;
        }

        /** Writes raw response bytes. */
        public void write(String text) throws IOException {
            socket.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
            socket.getOutputStream().flush();
        }

        /** Writes one chunk of a chunked body. */
        public void writeChunk(String text) throws IOException {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            write(Integer.toHexString(bytes.length) + "\r\n" + text + "\r\n");
        }

        /** Whether the proxy closes (or resets) the connection within the wait. */
        public boolean closedByPeerWithin(Duration wait) throws IOException {
            socket.setSoTimeout((int) wait.toMillis());
            try {
                InputStream in = socket.getInputStream();
                while (in.read() >= 0) {
                    // a pipelined request would be a bug in itself; keep reading until the peer closes
                }
                return true;
            } catch (SocketTimeoutException e) {
                return false;
            } catch (IOException e) {
                return true; // reset by peer
            }
        }

        private void readRequest() throws IOException {
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    throw new IOException("connection closed before the request head ended");
                }
                head.write(b);
            }
            requestHead = head.toString(StandardCharsets.ISO_8859_1);
            int length = 0;
            boolean chunked = false;
            for (String line : requestHead.split("\r\n")) {
                String lower = line.toLowerCase(Locale.ROOT);
                if (lower.startsWith("content-length:")) {
                    length = Integer.parseInt(
                            line.substring("content-length:".length()).strip());
                } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                    chunked = true;
                }
            }
            if (chunked) {
                readChunks(in); // a streamed body: read it whole, as a server does before it answers
            } else {
                in.readNBytes(length);
            }
        }

        private static void readChunks(InputStream in) throws IOException {
            while (true) {
                int size = Integer.parseInt(readLine(in).split(";", 2)[0].strip(), 16);
                if (size == 0) {
                    while (!readLine(in).isEmpty()) {
                        // trailers
                    }
                    return;
                }
                in.readNBytes(size);
                readLine(in);
            }
        }

        private static String readLine(InputStream in) throws IOException {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) >= 0 && b != '\n') {
                if (b != '\r') {
                    line.write(b);
                }
            }
            if (b < 0) {
                throw new IOException("connection closed inside a chunked request body");
            }
            return line.toString(StandardCharsets.ISO_8859_1);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
