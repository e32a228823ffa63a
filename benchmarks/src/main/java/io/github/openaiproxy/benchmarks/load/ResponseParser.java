package io.github.openaiproxy.benchmarks.load;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * An incremental HTTP/1.1 response parser for the benchmark clients: fed the bytes of one response as
 * they arrive, it reports the status and headers, the body bytes (chunked encoding removed) and the end.
 */
final class ResponseParser {
    /** What the parser found. */
    interface Listener {
        void onHeaders(int status, Map<String, String> headers);

        void onBody(ByteBuffer body);

        void onEnd();
    }

    private enum State {
        HEAD,
        LENGTH,
        CHUNK_SIZE,
        CHUNK_DATA,
        CHUNK_DATA_END,
        TRAILER,
        UNTIL_CLOSE,
        DONE
    }

    private final Listener listener;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private State state = State.HEAD;
    private long remaining;
    private int status;

    ResponseParser(Listener listener) {
        this.listener = listener;
    }

    boolean isDone() {
        return state == State.DONE;
    }

    int status() {
        return status;
    }

    /** The connection was closed by the server; returns whether the response was complete. */
    boolean closed() {
        if (state == State.UNTIL_CLOSE) {
            state = State.DONE;
            listener.onEnd();
        }
        return state == State.DONE;
    }

    /** Feeds received bytes (all of them are consumed). */
    void feed(ByteBuffer in) {
        while (in.hasRemaining() && state != State.DONE) {
            switch (state) {
                case HEAD -> head(in);
                case LENGTH -> {
                    int n = (int) Math.min(remaining, in.remaining());
                    body(in, n);
                    remaining -= n;
                    if (remaining == 0) {
                        end();
                    }
                }
                case CHUNK_SIZE -> {
                    String l = readLine(in);
                    if (l != null) {
                        int semi = l.indexOf(';');
                        remaining = Long.parseLong((semi < 0 ? l : l.substring(0, semi)).strip(), 16);
                        state = remaining == 0 ? State.TRAILER : State.CHUNK_DATA;
                    }
                }
                case CHUNK_DATA -> {
                    int n = (int) Math.min(remaining, in.remaining());
                    body(in, n);
                    remaining -= n;
                    if (remaining == 0) {
                        state = State.CHUNK_DATA_END;
                    }
                }
                case CHUNK_DATA_END -> {
                    String l = readLine(in);
                    if (l != null) {
                        if (!l.isEmpty()) {
                            throw new IllegalStateException("bad chunk end: " + l);
                        }
                        state = State.CHUNK_SIZE;
                    }
                }
                case TRAILER -> {
                    String l = readLine(in);
                    if (l != null && l.isEmpty()) {
                        end();
                    }
                }
                case UNTIL_CLOSE -> body(in, in.remaining());
                default -> throw new IllegalStateException(state.name());
            }
        }
        if (state == State.DONE && in.hasRemaining()) {
            in.position(in.limit()); // bytes after the response: ignored
        }
    }

    private void head(ByteBuffer in) {
        while (in.hasRemaining()) {
            byte b = in.get();
            line.write(b);
            int n = line.size();
            if (n >= 4 && b == '\n') {
                byte[] h = line.toByteArray();
                if (h[n - 2] == '\r' && h[n - 3] == '\n' && h[n - 4] == '\r') {
                    line.reset();
                    parseHead(new String(h, 0, n - 4, StandardCharsets.ISO_8859_1));
                    return;
                }
            }
        }
    }

    private void parseHead(String head) {
        String[] lines = head.split("\r\n");
        String[] statusLine = lines[0].split(" ", 3);
        status = Integer.parseInt(statusLine[1]);
        Map<String, String> headers = new HashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) {
                headers.put(
                        lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT),
                        lines[i].substring(colon + 1).strip());
            }
        }
        listener.onHeaders(status, headers);
        String te = headers.getOrDefault("transfer-encoding", "");
        String cl = headers.get("content-length");
        if (te.toLowerCase(Locale.ROOT).contains("chunked")) {
            state = State.CHUNK_SIZE;
        } else if (cl != null) {
            remaining = Long.parseLong(cl);
            if (remaining == 0) {
                end();
            } else {
                state = State.LENGTH;
            }
        } else if (status == 204 || status == 304) {
            end();
        } else {
            state = State.UNTIL_CLOSE;
        }
    }

    private String readLine(ByteBuffer in) {
        while (in.hasRemaining()) {
            byte b = in.get();
            if (b == '\n') {
                byte[] l = line.toByteArray();
                line.reset();
                int n = l.length > 0 && l[l.length - 1] == '\r' ? l.length - 1 : l.length;
                return new String(l, 0, n, StandardCharsets.ISO_8859_1);
            }
            line.write(b);
        }
        return null;
    }

    private void body(ByteBuffer in, int n) {
        ByteBuffer slice = in.slice();
        slice.limit(n);
        in.position(in.position() + n);
        listener.onBody(slice);
    }

    private void end() {
        state = State.DONE;
        listener.onEnd();
    }
}
