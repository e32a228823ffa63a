package io.github.openaiproxy.servlet.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * An HTTP/1.1 client on a bare socket, for tests that must control the connection itself: read part
 * of a response, then drop the connection at a chosen moment.
 */
public final class RawClient implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private int status;
    private final Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    private boolean chunked;
    private int chunkLeft;
    private boolean bodyDone;

    private RawClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
    }

    /** Connects to 127.0.0.1:{@code port} and sends a JSON POST. */
    public static RawClient post(int port, String path, String json) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
        s.setSoTimeout(30_000); // a hung read fails the test instead of hanging the build
        RawClient c = new RawClient(s);
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        String head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nContent-Type: application/json\r\n"
                + "Accept: text/event-stream\r\nContent-Length: " + body.length + "\r\n\r\n";
        s.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
        s.getOutputStream().write(body);
        s.getOutputStream().flush();
        return c;
    }

    /** Reads the status line and headers. */
    public int readHead() throws IOException {
        String statusLine = StubUpstream.readLine(in);
        if (statusLine == null) {
            throw new IOException("connection closed before the status line");
        }
        status = Integer.parseInt(statusLine.split(" ")[1]);
        String line;
        while ((line = StubUpstream.readLine(in)) != null && !line.isEmpty()) {
            int colon = line.indexOf(':');
            headers.computeIfAbsent(line.substring(0, colon).strip(), k -> new java.util.ArrayList<>())
                    .add(line.substring(colon + 1).strip());
        }
        chunked = headers.getOrDefault("transfer-encoding", List.of()).stream()
                .anyMatch(v -> v.toLowerCase(Locale.ROOT).contains("chunked"));
        return status;
    }

    public Map<String, List<String>> headers() {
        return headers;
    }

    /** Reads body bytes up to and including the next blank line ({@code \n\n}): one SSE event. */
    public String readEvent() throws IOException {
        ByteArrayOutputStream event = new ByteArrayOutputStream();
        int prev = -1;
        int b;
        while ((b = readBodyByte()) != -1) {
            event.write(b);
            if (b == '\n' && prev == '\n') {
                return event.toString(StandardCharsets.UTF_8);
            }
            prev = b;
        }
        throw new IOException("the body ended inside an event: " + event.toString(StandardCharsets.UTF_8));
    }

    /** Reads {@code n} body bytes (fewer only at the end of the body). */
    public byte[] readBody(int n) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int b;
        while (out.size() < n && (b = readBodyByte()) != -1) {
            out.write(b);
        }
        return out.toByteArray();
    }

    /**
     * Reads the next HTTP chunk of a chunked body as it came over the wire, or {@code null} after the
     * last chunk. Tells how the proxy cut its output: one flush is one chunk.
     */
    public byte[] readChunk() throws IOException {
        if (!chunked || chunkLeft != 0) {
            throw new IllegalStateException("not at a chunk boundary of a chunked body");
        }
        if (bodyDone) {
            return null;
        }
        String sizeLine = StubUpstream.readLine(in);
        if (sizeLine == null) {
            throw new IOException("connection closed inside a chunked body");
        }
        int size = Integer.parseInt(sizeLine.split(";")[0].strip(), 16);
        if (size == 0) {
            StubUpstream.readLine(in); // the blank line after the last chunk (no trailers)
            bodyDone = true;
            return null;
        }
        byte[] data = in.readNBytes(size);
        if (data.length != size || !"".equals(StubUpstream.readLine(in))) {
            throw new IOException("malformed chunk");
        }
        return data;
    }

    private int readBodyByte() throws IOException {
        if (bodyDone) {
            return -1;
        }
        if (!chunked) {
            return in.read();
        }
        if (chunkLeft == 0) {
            String sizeLine = StubUpstream.readLine(in);
            if (sizeLine == null) {
                return -1;
            }
            chunkLeft = Integer.parseInt(sizeLine.split(";")[0].strip(), 16);
            if (chunkLeft == 0) {
                bodyDone = true;
                return -1;
            }
        }
        int b = in.read();
        if (b != -1 && --chunkLeft == 0) {
            StubUpstream.readLine(in); // the CRLF that ends the chunk's data
        }
        return b;
    }

    /** Drops the connection with a reset (RST) instead of a FIN: what a killed client or a middlebox does. */
    public void resetAndClose() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /** Drops the connection. */
    @Override
    public void close() throws IOException {
        socket.close();
    }
}
