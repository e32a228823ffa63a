package io.github.openaiproxy.core.flow;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Pattern;

/** Reading one relayed Server-Sent Event (an item of an event-stream {@code ProxyResponse}). */
public final class ServerSentEvents {
    /** SSE line ends; compiled once, as this runs for every event of a recorded or GraphQL stream. */
    private static final Pattern LINES = Pattern.compile("\r\n|\r|\n");

    private ServerSentEvents() {}

    /** The event's bytes, copied once; the buffers' positions are left as they are. */
    public static byte[] bytes(List<ByteBuffer> event) {
        int size = 0;
        for (ByteBuffer b : event) {
            size += b.remaining();
        }
        byte[] all = new byte[size];
        int at = 0;
        for (ByteBuffer b : event) {
            int n = b.remaining();
            b.get(b.position(), all, at, n);
            at += n;
        }
        return all;
    }

    /** The event's {@code data:} lines joined with line feeds, or {@code null} if it has none. */
    public static String data(List<ByteBuffer> event) {
        if (event.size() == 1 && event.get(0).hasArray()) {
            // The relay's events are one heap buffer each: read in place, without copying the bytes first.
            ByteBuffer b = event.get(0);
            return data(new String(b.array(), b.arrayOffset() + b.position(), b.remaining(), StandardCharsets.UTF_8));
        }
        return data(new String(bytes(event), StandardCharsets.UTF_8));
    }

    /** As {@link #data(List)}, for an event already copied with {@link #bytes}. */
    public static String data(byte[] event) {
        return data(new String(event, StandardCharsets.UTF_8));
    }

    private static String data(String event) {
        StringBuilder data = null;
        for (String line : LINES.split(event)) {
            if (line.startsWith("data:")) {
                String value = line.substring(line.startsWith("data: ") ? 6 : 5);
                data = data == null
                        ? new StringBuilder(value)
                        : data.append('\n').append(value);
            }
        }
        return data == null ? null : data.toString();
    }
}
