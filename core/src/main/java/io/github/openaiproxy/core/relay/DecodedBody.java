package io.github.openaiproxy.core.relay;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Flow;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Undoes a {@code gzip} or {@code deflate} coding the upstream applied although the proxy asked for {@code identity}
 * (a server, or a gateway in front of it, that compresses regardless). The proxy reads what it relays: an event stream
 * is cut into events, usage is metered and the usage chunk it asked for is taken out, an error body is masked. None of
 * that can work on compressed bytes, and an event stream's coding cannot pass to the client with events cut out of
 * it, so the body is decoded as it arrives and relayed without the coding. Each upstream read is decoded at once (a
 * stream's events are not held back); what one read may expand to is bounded, so a small compressed bomb ends the
 * body with an error instead of filling the heap.
 */
final class DecodedBody implements Flow.Publisher<List<ByteBuffer>> {
    /** The most one upstream read may decode to: far beyond text's ratio, far below a bomb's. */
    static final int MAX_PER_READ = 8 * 1024 * 1024;

    private static final int PIECE = 16 * 1024;

    /** The longest gzip member header held while it arrives: its extra field's most (64 KiB) and a name. */
    static final int MAX_HEADER = 80 * 1024;

    private final Flow.Publisher<List<ByteBuffer>> source;
    private final boolean gzip;

    private DecodedBody(Flow.Publisher<List<ByteBuffer>> source, boolean gzip) {
        this.source = source;
        this.gzip = gzip;
    }

    /**
     * The answer decoded when its {@code Content-Encoding} is one the proxy undoes ({@code gzip}, {@code x-gzip},
     * {@code deflate}), without that header and its {@code Content-Length}; otherwise the answer itself.
     */
    static UpstreamResponse decoded(UpstreamResponse upstream) {
        // Every answer passes here: a map look-up, no Optional or stream, when it has no coding.
        String coding = HeaderMap.first(upstream.headers(), "content-encoding");
        if (coding == null) {
            return upstream;
        }
        String c = coding.strip().toLowerCase(Locale.ROOT);
        boolean gzip = c.equals("gzip") || c.equals("x-gzip");
        if (!gzip && !c.equals("deflate")) {
            return upstream;
        }
        HttpHeaders headers = HttpHeaders.of(
                upstream.headers().map(),
                (name, value) ->
                        !name.equalsIgnoreCase("content-encoding") && !name.equalsIgnoreCase("content-length"));
        return new UpstreamResponse(upstream.status(), headers, new DecodedBody(upstream.body(), gzip));
    }

    @Override
    public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> subscriber) {
        source.subscribe(new Decoder(subscriber, gzip));
    }

    private static final class Decoder extends ForwardingSubscriber<List<ByteBuffer>> {
        private final boolean gzip;
        /** The bytes of a gzip member's header or trailer, or deflate's first two, still being collected. */
        private byte[] held = new byte[0];

        private Inflater inflater;
        private final CRC32 crc = new CRC32();
        /** Whether the decoder is inside a gzip member's trailer. */
        private boolean trailer;
        /** Whether a whole gzip member has been read: what follows that is not another is ignored, as gzip does. */
        private boolean member;

        private boolean padding;

        private boolean started;
        /** Ended, failed or cancelled: guarded by this, as the inflater is. */
        private boolean done;

        private volatile boolean cancelled;

        Decoder(Flow.Subscriber<? super List<ByteBuffer>> downstream, boolean gzip) {
            super(downstream);
            this.gzip = gzip;
        }

        @Override
        public void onNext(List<ByteBuffer> item) {
            List<ByteBuffer> out = new ArrayList<>();
            IOException failed = null;
            synchronized (this) { // a cancel on another thread ends the inflater: not while it decodes
                if (done) {
                    return; // cancelled: a read on its way is let go, not decoded
                }
                try {
                    long[] budget = {MAX_PER_READ};
                    for (ByteBuffer b : item) {
                        byte[] in = new byte[b.remaining()];
                        b.get(b.position(), in);
                        feed(in, out, budget);
                    }
                } catch (IOException | DataFormatException | RuntimeException e) {
                    end();
                    failed = new IOException(
                            "the upstream's compressed body could not be decoded: " + e.getMessage(), e);
                }
            }
            if (failed != null) {
                fail(failed);
                return;
            }
            if (out.isEmpty()) {
                // Only a header: nothing for the demand this read met, so read on.
                if (!cancelled) {
                    super.request(1);
                }
                return;
            }
            downstream.onNext(out);
        }

        @Override
        public void onComplete() {
            IOException failed = null;
            synchronized (this) {
                if (done) {
                    return;
                }
                // Whole: nothing came, or the last member's trailer was read (what was held after it is no member).
                boolean whole = !started || (inflater == null && !trailer && (held.length == 0 || member));
                if (!whole && !gzip && inflater != null && inflater.finished()) {
                    whole = true;
                }
                end();
                if (!whole) {
                    failed = new IOException("the upstream's compressed body ended before its end");
                }
            }
            if (failed != null) {
                fail(failed);
                return;
            }
            downstream.onComplete();
        }

        @Override
        public void onError(Throwable error) {
            synchronized (this) {
                if (done) {
                    return;
                }
                end();
            }
            downstream.onError(error);
        }

        @Override
        public void cancel() {
            cancelled = true;
            super.cancel();
            synchronized (this) {
                end(); // the inflater's native memory now, not when a collection finds it unreachable
            }
        }

        /** Called ended ({@link #end}), outside the lock: the signals go out unheld. */
        private void fail(IOException e) {
            super.cancel();
            downstream.onError(e);
        }

        private void end() {
            done = true;
            if (inflater != null) {
                inflater.end();
                inflater = null;
            }
        }

        private void feed(byte[] in, List<ByteBuffer> out, long[] budget) throws IOException, DataFormatException {
            int at = 0;
            while (at < in.length && !padding) {
                started = true;
                if (inflater == null) {
                    // A header (gzip's, or deflate's first two bytes to tell zlib from raw deflate), or a trailer.
                    byte[] all = concat(held, in, at);
                    int used;
                    if (trailer) {
                        used = all.length >= 8 ? 8 : -1;
                    } else if (!gzip) {
                        used = deflateStart(all);
                    } else if (member && !(all[0] == 0x1f && (all.length < 2 || (all[1] & 0xff) == 0x8b))) {
                        padding = true; // zeros a server wrote after its member, say
                        held = new byte[0];
                        return;
                    } else {
                        used = gzipHeader(all);
                    }
                    if (used < 0) {
                        if (all.length > MAX_HEADER) {
                            // A name or extra field that never ends: held whole, it would grow with every read.
                            throw new IOException("a gzip header longer than " + MAX_HEADER + " bytes");
                        }
                        held = all;
                        return;
                    }
                    in = all;
                    at = used;
                    held = new byte[0];
                    if (trailer) {
                        checkTrailer(all);
                        trailer = false;
                        member = true;
                    } else {
                        inflater = new Inflater(gzip || !zlib(all));
                        crc.reset();
                    }
                    continue;
                }
                if (inflater.finished()) {
                    throw new IOException("bytes after the end of the deflate stream"); // gzip's end is met below
                }
                inflater.setInput(in, at, in.length - at);
                while (!inflater.finished() && !inflater.needsInput()) {
                    byte[] piece = new byte[PIECE];
                    int n = inflater.inflate(piece);
                    if (n == 0 && inflater.needsDictionary()) {
                        throw new IOException("a preset dictionary is not supported");
                    }
                    if (n == 0) {
                        break; // not reached: a fresh piece always takes output unless input or a dictionary is needed
                    }
                    if (n > 0) {
                        budget[0] -= n;
                        if (budget[0] < 0) {
                            throw new IOException("one read decodes to more than " + MAX_PER_READ + " bytes");
                        }
                        crc.update(piece, 0, n);
                        // A stream's event is small: a copy of its size, not the piece, waits for a slow client.
                        out.add(ByteBuffer.wrap(n < PIECE / 4 ? Arrays.copyOf(piece, n) : piece, 0, n));
                    }
                }
                if (inflater.finished()) {
                    at = in.length - inflater.getRemaining();
                    if (!gzip) {
                        if (at < in.length) {
                            throw new IOException("bytes after the end of the deflate stream");
                        }
                        return;
                    }
                    inflater.end();
                    inflater = null;
                    trailer = true;
                } else {
                    return; // all of it taken
                }
            }
        }

        private void checkTrailer(byte[] t) throws IOException {
            long sum = (t[0] & 0xffL) | (t[1] & 0xffL) << 8 | (t[2] & 0xffL) << 16 | (t[3] & 0xffL) << 24;
            if (sum != crc.getValue()) {
                throw new IOException("gzip checksum mismatch");
            }
        }

        private static byte[] concat(byte[] held, byte[] in, int at) {
            byte[] all = Arrays.copyOf(held, held.length + in.length - at);
            System.arraycopy(in, at, all, held.length, in.length - at);
            return all;
        }

        /** The length of the gzip member header at the start of {@code a}; -1 when more bytes are needed. */
        private static int gzipHeader(byte[] a) throws IOException {
            if (a.length < 10) {
                return a.length >= 2 && !magic(a) ? fail() : -1;
            }
            if (!magic(a) || a[2] != 8) {
                return fail();
            }
            int flags = a[3] & 0xff;
            int at = 10;
            if ((flags & 4) != 0) { // FEXTRA
                if (a.length < at + 2) {
                    return -1;
                }
                at += 2 + ((a[at] & 0xff) | (a[at + 1] & 0xff) << 8);
            }
            for (int flag : new int[] {8, 16}) { // FNAME, FCOMMENT: zero-terminated
                if ((flags & flag) != 0) {
                    while (at < a.length && a[at] != 0) {
                        at++;
                    }
                    if (at >= a.length) {
                        return -1;
                    }
                    at++;
                }
            }
            if ((flags & 2) != 0) { // FHCRC
                at += 2;
            }
            return at <= a.length ? at : -1;
        }

        private static boolean magic(byte[] a) {
            return (a[0] & 0xff) == 0x1f && (a[1] & 0xff) == 0x8b;
        }

        private static int fail() throws IOException {
            throw new IOException("not a gzip stream");
        }

        /** Deflate's start is read by the inflater itself: only its first two bytes are needed to choose one. */
        private static int deflateStart(byte[] a) {
            return a.length >= 2 ? 0 : -1;
        }

        /** Whether a deflate body has the zlib wrapping HTTP's {@code deflate} means (some servers send it raw). */
        private static boolean zlib(byte[] a) {
            return (a[0] & 0x0f) == 8 && (((a[0] & 0xff) << 8) | (a[1] & 0xff)) % 31 == 0;
        }
    }
}
