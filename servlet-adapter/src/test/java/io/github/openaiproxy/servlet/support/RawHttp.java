package io.github.openaiproxy.servlet.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * HTTP/1.1 written by hand on a socket, for what {@link java.net.http.HttpClient} refuses to send
 * (hop-by-hop headers, {@code Host}, a chunked body that never ends). The response is parsed by its
 * {@code Content-Length} or chunked framing, so reading it never waits for the server to close.
 */
public final class RawHttp implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    private RawHttp(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    /** Connects to 127.0.0.1:port with a generous read timeout. */
    public static RawHttp connect(int port) {
        try {
            Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
            s.setSoTimeout((int) Http.TIMEOUT.toMillis());
            s.setTcpNoDelay(true);
            return new RawHttp(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Sends one request and reads its response: {@code head} holds the request line and header lines,
     * each ending in CRLF, without the blank line; a {@code Content-Length} for {@code body} is added when
     * {@code head} declares neither a length nor chunked encoding.
     */
    public static Response exchange(int port, String head, byte[] body) {
        try (RawHttp c = connect(port)) {
            String h = head;
            String lower = head.toLowerCase(Locale.ROOT);
            if (body.length > 0 && !lower.contains("content-length:") && !lower.contains("transfer-encoding:")) {
                h += "Content-Length: " + body.length + "\r\n";
            }
            c.write((h + "\r\n").getBytes(StandardCharsets.US_ASCII));
            c.write(body);
            return c.readResponse();
        }
    }

    /** Writes bytes as they are. */
    public void write(byte[] bytes) {
        try {
            out.write(bytes);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes ASCII text as it is. */
    public void write(String ascii) {
        write(ascii.getBytes(StandardCharsets.US_ASCII));
    }

    /** Writes one chunk of a chunked body. */
    public void writeChunk(byte[] chunk) {
        write(chunk(chunk));
    }

    /**
     * Encodes {@code body} as a whole chunked body (chunks of {@code chunkSize}, then the last chunk), to be
     * sent in one write: a server may answer early and close (Tomcat does for 413), and a later write would
     * then fail with a broken pipe.
     */
    public static byte[] chunked(byte[] body, int chunkSize) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < body.length; i += chunkSize) {
            b.writeBytes(chunk(Arrays.copyOfRange(body, i, Math.min(body.length, i + chunkSize))));
        }
        b.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        return b.toByteArray();
    }

    private static byte[] chunk(byte[] chunk) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        b.writeBytes(chunk);
        b.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        return b.toByteArray();
    }

    /** Reads one response. */
    public Response readResponse() {
        try {
            String statusLine = readLine();
            String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
                throw new IOException("not an HTTP/1.x status line: " + statusLine);
            }
            int status = Integer.parseInt(parts[1]);
            Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (String line = readLine(); !line.isEmpty(); line = readLine()) {
                int colon = line.indexOf(':');
                headers.computeIfAbsent(line.substring(0, colon).strip(), n -> new ArrayList<>())
                        .add(line.substring(colon + 1).strip());
            }
            byte[] body;
            String te = first(headers, "Transfer-Encoding").orElse("");
            Optional<String> length = first(headers, "Content-Length");
            if (te.toLowerCase(Locale.ROOT).contains("chunked")) {
                body = readChunked();
            } else if (length.isPresent()) {
                body = in.readNBytes(Integer.parseInt(length.get()));
            } else if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
                body = new byte[0];
            } else {
                body = in.readAllBytes();
            }
            return new Response(status, headers, body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Whether the server ends the connection cleanly (end of stream) with nothing more sent; a reset is an
     * {@link UncheckedIOException}, and so is a read timeout.
     */
    public boolean endsCleanly() {
        try {
            return in.read() == -1;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private byte[] readChunked() throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            String sizeLine = readLine();
            int semicolon = sizeLine.indexOf(';');
            int size = Integer.parseInt((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).strip(), 16);
            if (size == 0) {
                for (String trailer = readLine(); !trailer.isEmpty(); trailer = readLine()) {
                    // trailers are not used by these tests
                }
                return body.toByteArray();
            }
            body.writeBytes(in.readNBytes(size));
            readLine();
        }
    }

    private String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != -1) {
            if (b == '\n') {
                byte[] bytes = line.toByteArray();
                int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
            }
            line.write(b);
        }
        throw new IOException("connection closed before the end of a line");
    }

    private static Optional<String> first(Map<String, List<String>> headers, String name) {
        List<String> values = headers.get(name);
        return values == null || values.isEmpty() ? Optional.empty() : Optional.of(values.get(0));
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // nothing left to do
        }
    }

    /** A parsed response; header names are case-insensitive. */
    public record Response(int status, Map<String, List<String>> headers, byte[] body) {
        public Optional<String> header(String name) {
            return first(headers, name);
        }

        public String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }
}
