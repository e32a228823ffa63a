package io.github.openaiproxy.core.flow;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Pattern;

/** Reading one relayed Server-Sent Event (an item of an event-stream {@code ProxyResponse}). */
public final class ServerSentEvents {
    /** SSE line ends; compiled once, as this runs for every event of a recorded or GraphQL stream. */
    private static final Pattern LINES = Pattern.compile("\r\n|\r|\n");

    private ServerSentEvents() {}

    /** The event's bytes, copied; the buffers' positions are left as they are. */
    public static byte[] bytes(List<ByteBuffer> event) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuffer b : event) {
            ByteBuffer d = b.duplicate();
            byte[] a = new byte[d.remaining()];
            d.get(a);
            out.writeBytes(a);
        }
        return out.toByteArray();
    }

    /** The event's {@code data:} lines joined with line feeds, or {@code null} if it has none. */
    public static String data(List<ByteBuffer> event) {
        return data(bytes(event));
    }

    /** As {@link #data(List)}, for an event already copied with {@link #bytes}. */
    public static String data(byte[] event) {
        StringBuilder data = null;
        for (String line : LINES.split(new String(event, StandardCharsets.UTF_8))) {
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
