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
    private static final int INITIAL = 1024;
    private static final int SHRINK_ABOVE = 64 * 1024;

    private static final byte[] NONE = new byte[0];

    /**
     * The pending unfinished event. Allocated only when a read ends inside an event: an upstream that
     * flushes whole events leaves every open stream without one.
     */
    private byte[] buf = NONE;

    private int len;
    /** Next index to scan. */
    private int scan;
    /** Where the current line starts. */
    private int lineStart;
    /** Whether the pending event has a non-blank line yet; blank lines before it travel with it. */
    private boolean eventHasContent;
    /**
     * Whether the last line ended with a CR that no LF followed: a stream that ends its lines with bare CRs
     * ends its events with one too, so that CR is not held back waiting for an LF.
     */
    private boolean bareCr;
    /** Set by {@link #cut} when an event is larger than the limit. */
    private boolean overLimit;

    EventFramer(int maxEventBytes) {
        this.maxEventBytes = maxEventBytes;
    }

    /**
     * Adds bytes and hands every event they complete to {@code sink}.
     *
     * @return false when an event (complete or still pending) is larger than the limit; the events before
     *     it have been handed over, the oversized one is not
     */
    boolean append(ByteBuffer chunk, Consumer<ByteBuffer> sink) {
        if (len == 0 && chunk.hasArray()) {
            return appendAtRest(chunk, sink);
        }
        ByteBuffer in = chunk.duplicate();
        while (in.hasRemaining()) {
            int n = Math.min(in.remaining(), Math.max(4096, buf.length - len));
            ensure(len + n);
            in.get(buf, len, n);
            len += n;
            if (!emitComplete(sink) || len > maxEventBytes) {
                return false;
            }
            if (len == 0 && in.hasArray()) {
                return appendAtRest(in, sink); // the rest of the read, without the copy
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
        eventHasContent = false;
        bareCr = false;
    }

    /**
     * Nothing is pending: the events are cut straight out of the read, and only an unfinished last event is
     * copied.
     */
    private boolean appendAtRest(ByteBuffer chunk, Consumer<ByteBuffer> sink) {
        byte[] a = chunk.array();
        int from = chunk.arrayOffset() + chunk.position();
        int to = from + chunk.remaining();
        // At rest scan and lineStart are 0: here they index the read's array.
        scan = from;
        lineStart = from;
        overLimit = false;
        int rest = cut(a, from, to, sink);
        int tail = to - rest;
        scan -= rest;
        lineStart -= rest;
        if (tail > buf.length) {
            buf = new byte[Math.max(tail, INITIAL)]; // kept: a stream whose reads split events splits more
        }
        System.arraycopy(a, rest, buf, 0, tail);
        len = tail;
        return !overLimit && len <= maxEventBytes;
    }

    /** Hands over the complete events; false when one of them is over the limit (it is not handed over). */
    private boolean emitComplete(Consumer<ByteBuffer> sink) {
        overLimit = false;
        int eventStart = cut(buf, 0, len, sink);
        if (eventStart > 0) {
            System.arraycopy(buf, eventStart, buf, 0, len - eventStart);
            len -= eventStart;
            scan -= eventStart;
            lineStart -= eventStart;
            if (buf.length > SHRINK_ABOVE && len < INITIAL) {
                // A long stream should not keep the buffer of one big event for its whole life.
                buf = Arrays.copyOf(buf, INITIAL);
            }
        }
        return !overLimit;
    }

    /**
     * Hands over the complete events of {@code a[start, end)}, scanning from {@link #scan}; sets
     * {@link #overLimit} and stops at an event over the limit (not handed over).
     *
     * @return where the events not handed over start
     */
    private int cut(byte[] a, int start, int end, Consumer<ByteBuffer> sink) {
        int eventStart = start;
        int i = scan;
        while (i < end) {
            byte b = a[i];
            if (b != LF && b != CR) {
                i++;
                continue;
            }
            int eolEnd;
            if (b == CR) {
                if (i + 1 < end) {
                    eolEnd = a[i + 1] == LF ? i + 2 : i + 1;
                } else if (bareCr && i == lineStart && eventHasContent) {
                    // A CR at the end of a read, ending an event whose lines end with bare CRs: the event is
                    // complete. Were an LF to follow after all, it travels as a blank line with the next event.
                    eolEnd = i + 1;
                } else {
                    break; // a CR at the end: wait to see whether LF follows
                }
                bareCr = eolEnd == i + 1;
            } else {
                eolEnd = i + 1;
                bareCr = false;
            }
            // A blank line ends the event, unless no other line came before it (stray blank lines travel
            // with the next event).
            boolean blank = i == lineStart;
            boolean endsEvent = blank && eventHasContent;
            eventHasContent |= !blank;
            lineStart = eolEnd;
            i = eolEnd;
            if (endsEvent) {
                if (eolEnd - eventStart > maxEventBytes) {
                    overLimit = true;
                    break;
                }
                sink.accept(ByteBuffer.wrap(Arrays.copyOfRange(a, eventStart, eolEnd)));
                eventStart = eolEnd;
                eventHasContent = false;
            }
        }
        scan = i;
        return eventStart;
    }

    /** The size of the buffer held for an unfinished event (tests). */
    int bufferCapacity() {
        return buf.length;
    }

    private void ensure(int capacity) {
        if (capacity > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(capacity, buf.length * 2));
        }
    }
}
