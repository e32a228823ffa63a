package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.usage.UsageRecord;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

/**
 * Writes the ledger's raw rows with PostgreSQL's {@code COPY ... FROM STDIN (FORMAT binary)}, encoded here into one
 * buffer: no statement of thousands of parameters for the driver to bind and the server to parse, and no text for
 * the server to parse into numbers and times. The one class that links against the optional pgjdbc driver: {@link
 * JdbcUsageStore} loads it only when the driver is on its class path, and uses it only on a connection that unwraps
 * to the driver's.
 *
 * <p>Text goes as its UTF-8 bytes after their length (binary COPY has nothing to escape); a lone surrogate becomes
 * {@code ?}, as in the driver's own encoding. NUL, which no PostgreSQL text can hold, was replaced before (see
 * {@link LedgerRows#clip}).
 */
final class PostgresCopy {
    /** The binary format's signature, flags (none) and header extension length (none). */
    private static final byte[] HEADER = {
        'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xff, '\r', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0
    };
    /** Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01T00:00:00Z. */
    private static final long PG_EPOCH_MICROS = 946_684_800_000_000L;
    /** Bytes gathered before they go to the driver. */
    private static final int FLUSH_AT = 1 << 16;

    private static final int FIELDS = 24;

    private byte[] buf = new byte[FLUSH_AT + 8192];
    private int pos;

    private PostgresCopy() {}

    /** Whether {@code c} is (or wraps) a pgjdbc connection. */
    static boolean accepts(Connection c) throws SQLException {
        return c.isWrapperFor(PGConnection.class);
    }

    /**
     * Copies {@code rows} into {@code table}'s {@code columns}, which are {@link JdbcUsageStore}'s raw columns in
     * their order, within the connection's transaction.
     */
    static void copy(Connection c, String table, String columns, List<UsageRecord> rows) throws SQLException {
        CopyIn in = c.unwrap(PGConnection.class)
                .getCopyAPI()
                .copyIn("COPY " + table + " (" + columns + ") FROM STDIN (FORMAT binary)");
        try {
            PostgresCopy b = new PostgresCopy();
            b.bytes(HEADER);
            for (UsageRecord r : rows) {
                b.row(r);
                if (b.pos >= FLUSH_AT) {
                    b.flush(in);
                }
            }
            b.int16(-1); // the trailer
            b.flush(in);
            in.endCopy();
        } finally {
            if (in.isActive()) {
                in.cancelCopy(); // a failure half way: the connection must leave COPY mode
            }
        }
    }

    private void row(UsageRecord r) {
        ensure(2 + FIELDS * 12);
        int16(FIELDS);
        timestamp(r.at());
        text(LedgerRows.clip(r.identityKind(), 16));
        text(LedgerRows.clip(r.identityId(), LedgerRows.ID));
        text(LedgerRows.clip(r.keyId(), LedgerRows.SHORT));
        text(LedgerRows.clip(r.owner(), LedgerRows.ID));
        text(LedgerRows.clip(r.policy(), LedgerRows.SHORT));
        text(LedgerRows.clip(r.route(), LedgerRows.ROUTE));
        text(LedgerRows.clip(r.requestedModel(), LedgerRows.MODEL));
        text(LedgerRows.clip(r.answeringModel(), LedgerRows.MODEL));
        text(LedgerRows.clip(r.upstream(), LedgerRows.SHORT));
        ensure(FIELDS * 12);
        int4(r.upstreamStatus());
        int4(r.proxyStatus());
        int8(r.usage().inputTokens());
        int8(r.usage().cachedInputTokens());
        int8(r.usage().outputTokens());
        int8(r.usage().reasoningTokens());
        int4(r.usage().images());
        int8(r.costNanoUsd());
        bool(r.estimated());
        bool(r.streamed());
        text(r.outcome().name());
        ensure(24);
        int8(r.durationMicros());
        int8(r.firstEventMicros());
        text(LedgerRows.clip(r.upstreamRequestId(), LedgerRows.ID));
    }

    /** A {@code timestamptz}: microseconds since 2000-01-01 UTC, rounded to the nearest as the driver does. */
    private void timestamp(Instant at) {
        int32(8);
        long micros = Math.addExact(Math.multiplyExact(at.getEpochSecond(), 1_000_000L), (at.getNano() + 500) / 1000);
        long64(micros - PG_EPOCH_MICROS);
    }

    private void int4(int v) {
        int32(4);
        int32(v);
    }

    private void int8(long v) {
        int32(8);
        long64(v);
    }

    private void bool(boolean v) {
        int32(1);
        buf[pos++] = (byte) (v ? 1 : 0);
    }

    /** A field of text, or a NULL field for {@code null}. */
    private void text(String s) {
        if (s == null) {
            ensure(4);
            int32(-1);
            return;
        }
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8); // a lone surrogate becomes '?'
        ensure(4 + utf8.length);
        int32(utf8.length);
        System.arraycopy(utf8, 0, buf, pos, utf8.length);
        pos += utf8.length;
    }

    private void int16(int v) {
        ensure(2);
        buf[pos++] = (byte) (v >> 8);
        buf[pos++] = (byte) v;
    }

    private void int32(int v) {
        buf[pos++] = (byte) (v >> 24);
        buf[pos++] = (byte) (v >> 16);
        buf[pos++] = (byte) (v >> 8);
        buf[pos++] = (byte) v;
    }

    private void long64(long v) {
        int32((int) (v >> 32));
        int32((int) v);
    }

    private void bytes(byte[] b) {
        ensure(b.length);
        System.arraycopy(b, 0, buf, pos, b.length);
        pos += b.length;
    }

    private void ensure(int more) {
        if (pos + more > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + more));
        }
    }

    private void flush(CopyIn in) throws SQLException {
        if (pos > 0) {
            in.writeToCopy(buf, 0, pos);
            pos = 0;
        }
    }
}
