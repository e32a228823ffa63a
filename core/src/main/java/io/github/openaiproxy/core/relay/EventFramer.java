package io.github.openaiproxy.core.relay;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Cuts a byte stream into Server-Sent Events. An event ends with a blank line; lines end with LF, CR or
 * CRLF, so a multi-byte character or a line split across reads is carried over unchanged. Not
 * thread-safe: one upstream feeds it.
 */
final class EventFramer {
    private static final byte CR = '\r';
    private static final byte LF = '\n';

    private final int maxEventBytes;
    private byte[] buf = new byte[1024];
    private int len;
    /** Next index to scan. */
    private int scan;
    /** Where the current line starts. */
    private int lineStart;

    EventFramer(int maxEventBytes) {
        this.maxEventBytes = maxEventBytes;
    }

    /**
     * Adds bytes and hands every event they complete to {@code sink}.
     *
     * @return false when the pending event grew over the limit
     */
    boolean append(ByteBuffer chunk, Consumer<ByteBuffer> sink) {
        ByteBuffer in = chunk.duplicate();
        while (in.hasRemaining()) {
            int n = Math.min(in.remaining(), Math.max(4096, buf.length - len));
            ensure(len + n);
            in.get(buf, len, n);
            len += n;
            emitComplete(sink);
            if (len > maxEventBytes) {
                return false;
            }
        }
        return true;
    }

    /** Hands over whatever is pending as a last event (the upstream ended without a blank line). */
    void flushRemainder(Consumer<ByteBuffer> sink) {
        if (len > 0) {
            sink.accept(ByteBuffer.wrap(Arrays.copyOf(buf, len)));
        }
        discard();
    }

    /** Drops the pending partial event. */
    void discard() {
        len = 0;
        scan = 0;
        lineStart = 0;
    }

    private void emitComplete(Consumer<ByteBuffer> sink) {
        int eventStart = 0;
        int i = scan;
        while (i < len) {
            byte b = buf[i];
            if (b != LF && b != CR) {
                i++;
                continue;
            }
            int eolEnd;
            if (b == CR) {
                if (i + 1 >= len) {
                    break; // a CR at the end: wait to see whether LF follows
                }
                eolEnd = buf[i + 1] == LF ? i + 2 : i + 1;
            } else {
                eolEnd = i + 1;
            }
            // A blank line ends the event, unless nothing came before it (a stray blank line travels
            // with the next event).
            boolean endsEvent = i == lineStart && i > eventStart;
            lineStart = eolEnd;
            i = eolEnd;
            if (endsEvent) {
                sink.accept(ByteBuffer.wrap(Arrays.copyOfRange(buf, eventStart, eolEnd)));
                eventStart = eolEnd;
            }
        }
        scan = i;
        if (eventStart > 0) {
            System.arraycopy(buf, eventStart, buf, 0, len - eventStart);
            len -= eventStart;
            scan -= eventStart;
            lineStart -= eventStart;
        }
    }

    private void ensure(int capacity) {
        if (capacity > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(capacity, buf.length * 2));
        }
    }
}
