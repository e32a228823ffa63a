package io.github.openaiproxy.graphql;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

/**
 * A byte buffer that refuses to grow past its cap: the write that would pass it throws, and {@link #over} says so
 * (JSON writers may wrap the exception). What a GraphQL answer, or a sub-request body, is serialized into, so that
 * neither is ever written out whole past its limit.
 */
final class CappedBuffer extends ByteArrayOutputStream {
    private final long cap;
    /** Whether a write was refused at the cap. */
    boolean over;

    CappedBuffer(long cap) {
        super(1024);
        this.cap = cap;
    }

    /** The bytes written, without a copy. */
    ByteBuffer asBuffer() {
        return ByteBuffer.wrap(buf, 0, count);
    }

    @Override
    public void write(int b) {
        if (count + 1L > cap) {
            over = true;
            throw new Overflow();
        }
        super.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) {
        if (count + (long) len > cap) {
            over = true;
            throw new Overflow();
        }
        super.write(b, off, len);
    }

    /** Thrown at the cap (no stack trace: it is expected). */
    static final class Overflow extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Overflow() {
            super("over the size limit", null, false, false);
        }
    }
}
