package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Downloads one large response over a plain socket, checks its size and CRC-32, and can stop reading for
 * a while part-way (a slow client), so the relay's memory can be looked at while the body is in flight.
 */
final class BigBodyClient {
    record Result(int status, long bytes, long crc, long nanos) {}

    private BigBodyClient() {}

    /**
     * @param pauseAfter stop reading after this many body bytes (-1: never) and run {@code whilePaused}
     */
    static Result fetch(InetSocketAddress to, String path, byte[] body, long pauseAfter, Runnable whilePaused)
            throws IOException {
        try (Socket socket = new Socket()) {
            // A small receive buffer, so a paused client really holds the sender back.
            socket.setReceiveBufferSize(64 * 1024);
            socket.connect(to, 5000);
            socket.setSoTimeout(60_000);
            long start = System.nanoTime();
            OutputStream out = socket.getOutputStream();
            String head = "POST " + path + " HTTP/1.1\r\nHost: " + to.getHostString() + ":" + to.getPort()
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n";
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            CRC32 crc = new CRC32();
            long[] received = {0};
            ResponseParser parser = new ResponseParser(new ResponseParser.Listener() {
                @Override
                public void onHeaders(int status, Map<String, String> headers) {}

                @Override
                public void onBody(ByteBuffer b) {
                    received[0] += b.remaining();
                    crc.update(b);
                }

                @Override
                public void onEnd() {}
            });
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[64 * 1024];
            boolean paused = false;
            while (!parser.isDone()) {
                int max = buf.length;
                if (!paused && pauseAfter >= 0) {
                    // Read exactly up to the pause point (headers are small; a few bytes of slack is fine).
                    max = (int) Math.max(1, Math.min(buf.length, pauseAfter - received[0] + 512));
                }
                int n = in.read(buf, 0, max);
                if (n < 0) {
                    parser.closed();
                    break;
                }
                parser.feed(ByteBuffer.wrap(buf, 0, n));
                if (!paused && pauseAfter >= 0 && received[0] >= pauseAfter) {
                    paused = true;
                    whilePaused.run();
                }
            }
            if (!parser.isDone()) {
                throw new IOException("response ended early after " + received[0] + " bytes");
            }
            return new Result(parser.status(), received[0], crc.getValue(), System.nanoTime() - start);
        }
    }
}
