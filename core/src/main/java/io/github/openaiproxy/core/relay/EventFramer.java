package io.github.openaiproxy.core.relay;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Cuts a byte stream into Server-Sent Events. An event ends with a blank line; lines end with LF, CR or
 * CRLF, so a multi-byte character or a line split across reads is carried over unchanged. One upstream
 * feeds it; {@link #close} may come from another thread (a client that left): it gives the budget back and marks
 * the framer closed, and only that bookkeeping locks, so reading an event costs no lock.
 *
 * <p>The buffer of an unfinished event is taken from the proxy's {@link EventBuffers}, and given back when it
 * shrinks or the framer is closed: however many streams are open, their unfinished events hold no more than that.
 */
final class EventFramer {
    private static final byte CR = '\r';
    private static final byte LF = '\n';

    private final int maxEventBytes;
    private final EventBuffers buffers;
    private static final int INITIAL = 1024;
    /** The part of a stream's buffer not counted against the proxy's {@link EventBuffers}. */
    static final int FREE = 4 * 1024;

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
    /** Set by {@link #close}: the budget is given back, nothing more is taken. */
    private volatile boolean closed;
    /** What {@link #buf} takes from {@link #buffers} now; guarded by {@code this}, with {@link #closed}. */
    private long charged;

    EventFramer(int maxEventBytes) {
        this(maxEventBytes, EventBuffers.UNBOUNDED);
    }

    EventFramer(int maxEventBytes, EventBuffers buffers) {
        this.maxEventBytes = maxEventBytes;
        this.buffers = buffers;
    }

    /**
     * Adds bytes and hands every event they complete to {@code sink}.
     *
     * @return false when an event (complete or still pending) is larger than the limit; the events before
     *     it have been handed over, the oversized one is not
     */
    boolean append(ByteBuffer chunk, Consumer<ByteBuffer> sink) {
        if (closed) {
            return false;
        }
        if (len == 0 && chunk.hasArray()) {
            return appendAtRest(chunk, sink);
        }
        ByteBuffer in = chunk.duplicate();
        while (in.hasRemaining()) {
            int n = Math.min(in.remaining(), Math.max(4096, buf.length - len));
            if (!ensure(len + n)) {
                return false; // the proxy's event buffers are full
            }
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
        if (len > 0 && !closed) {
            sink.accept(ByteBuffer.wrap(Arrays.copyOf(buf, len)));
        }
        discard();
    }

    /**
     * Gives the buffer's share of the budget back; the framer takes no more and hands over nothing more. Idempotent,
     * and safe from any thread: the buffer itself is left to the feeding thread and the collector.
     */
    void close() {
        synchronized (this) {
            closed = true;
            buffers.give(charged);
            charged = 0;
        }
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
        if (tail > maxEventBytes) {
            return false; // not copied: the unfinished event is over the limit already
        }
        if (tail > buf.length && !resize(Math.max(tail, INITIAL))) {
            return false; // kept otherwise: a stream whose reads split events splits more
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
                resize(INITIAL);
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

    /**
     * Grows the buffer to hold {@code capacity} bytes: doubling, but never past what the largest event needs (the
     * caller adds at most 4 KB to an event within the limit), so one event holds about its size, not twice it.
     */
    private boolean ensure(int capacity) {
        if (capacity <= buf.length) {
            return true;
        }
        long most = Math.max(capacity, (long) maxEventBytes + 4096);
        return resize((int) Math.min(Math.max(capacity, buf.length * 2L), most));
    }

    /** Gives the buffer {@code capacity} bytes, taking or giving back the difference; false when full or closed. */
    private boolean resize(int capacity) {
        long share = charged(capacity);
        synchronized (this) {
            if (closed) {
                return false;
            }
            if (share > charged && !buffers.take(share - charged)) {
                return false;
            }
            if (share < charged) {
                buffers.give(charged - share);
            }
            charged = share;
        }
        buf = Arrays.copyOf(buf, capacity);
        return true;
    }

    /**
     * What a buffer of {@code capacity} bytes takes from the shared budget: what it holds beyond {@link #FREE}. A
     * stream whose events are ordinary chunks keeps a small buffer for its whole life; were that counted, thousands of
     * healthy streams would fill a budget made small by a small {@code max-event-size}, and be refused.
     */
    private static long charged(int capacity) {
        return Math.max(0, capacity - FREE);
    }
}
