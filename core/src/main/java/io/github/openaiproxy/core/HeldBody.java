package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.Demand;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.BodyTooLargeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * An upload routed to a named upstream, its first bytes read and held before the upstream call: a multipart body up
 * to its {@code model} field (or its first file part, at most {@link #BOUND}), any other body its first piece (what
 * Jetty's client reads before it connects anyway). Each call that subscribes gets the held bytes (the model renamed
 * when an alias asks for another name), then the rest as it arrives. Until a call reads past the held bytes the
 * client's body stays where it is, so a call that failed before that (its connection refused) leaves it whole for the
 * next attempt; once one did, those bytes are gone and a later subscriber is refused.
 *
 * <p>When routing wants the model and a multipart body has none before its file (or within {@link #BOUND}), it is
 * {@linkplain Spooling spooled}: read on past the bound, the bytes after the held ones written to an {@link
 * UploadSpool} file, until its model field or its end, and each call gets the held bytes, the spooled ones (the model
 * renamed there as in the held ones), then the rest as it arrives. A body spooled to its end is whole: every call
 * gets all of it.
 */
final class HeldBody implements Flow.Publisher<ByteBuffer> {
    /** The most read ahead before the call (plus the piece that crossed it): the model comes first or not at all. */
    static final int BOUND = 64 * 1024;

    /** Decides, from the bytes held so far, whether enough is held. */
    @FunctionalInterface
    interface Scan {
        boolean enough(byte[] held, int length);

        /** The first piece of the body is enough. */
        Scan FIRST_PIECE = (held, length) -> true;
    }

    /**
     * Reading on past the file for the model (one for the engine: no upload makes one).
     *
     * @param spool where the bytes past the held ones go
     * @param limit {@code max-upload-size}: the body is refused (413) when more arrives before the model
     */
    record Spooling(UploadSpool spool, long limit) {}

    private static final Object COMPLETE = new Object();
    /** The most of a spool file each call's copy reads at once. */
    private static final int SPOOL_PIECE = 64 * 1024;

    private final Scan scan;
    /** {@code null} unless routing wants a model after the file: then nothing below but {@link #release} differs. */
    private final Spooling spooling;
    /** The multipart body's boundary, with {@link #spooling}. */
    private final MultipartModel form;
    /** The request, for its declared length (only with {@link #spooling}). */
    private final ProxyRequest request;
    /** Reads the body past its file for the model, once spooling began (source's thread until ready). */
    private MultipartModel.Reader reader;
    /** The spool file, once spooling began; what it holds follows {@link #held}. */
    private volatile UploadSpool.SpoolFile file;
    /** A piece the spool's bound (or disk) refused: it follows the file, and the hold ends with it. */
    private byte[] extra;
    /** The model field found past the held bytes (while spooling), in the body's positions. */
    private MultipartModel.FoundAt far;
    /** What each call gets after {@link #head} while spooled: byte arrays and file ranges ({@code long[]{at, n}}). */
    private volatile List<Object> spooled;
    /** How much longer (or shorter) the spooled copy is than the client's body. */
    private volatile long spooledChange;

    private final CompletableFuture<HeldBody> ready = new CompletableFuture<>();
    /** Written by the source's thread until {@link #ready} completes, read only after. */
    private byte[] held = new byte[4096];

    private int length;
    /**
     * The length at which the scan is asked again: a scan reads every held byte, so asking it at every piece would
     * let a client that sends its body a byte at a time cost the proxy a scan of up to {@link #BOUND} bytes per byte
     * (billions of comparisons for 64 KiB). Asked when the held bytes doubled or grew by {@link #RESCAN_STEP}, it
     * runs a dozen times at the most; the piece that ends the body or crosses the bound ends the hold anyway.
     */
    private int scanAt;

    /** The least growth of the held bytes between two scans. */
    static final int RESCAN_STEP = 4096;

    private volatile Flow.Subscription source;
    /** The model field's value range in {@link #held}, when one was found. */
    private MultipartModel.Found model;
    /** What each call gets first: the held bytes, with the model renamed for the current attempt. */
    private volatile byte[] head;
    /** How the source ended ({@link #COMPLETE} or its error), {@code null} while it goes on (guarded by this). */
    private Object end;
    /** The call that reads past the held bytes, once there is one (guarded by this). */
    private Tail claimant;

    private HeldBody(Scan scan, Spooling spooling, MultipartModel form, ProxyRequest request) {
        this.scan = scan;
        this.spooling = spooling;
        this.form = form;
        this.request = request;
    }

    /**
     * Reads {@code source} until {@code scan} has enough, {@link #BOUND} is reached or the body ends. Fails as the
     * body does (the client broke off, {@code request-body-timeout}).
     */
    static CompletableFuture<HeldBody> hold(Flow.Publisher<ByteBuffer> source, Scan scan) {
        return hold(source, scan, null, null, null);
    }

    /**
     * As {@link #hold(Flow.Publisher, Scan)}, and with {@code spooling} reads on past a multipart body's file (or
     * {@link #BOUND}) for its model: fails with a {@link BodyTooLargeException} past the spooling's limit.
     * {@code form} is the body's boundary and {@code request} the request (its declared length must fit the
     * spool's bound, and is reserved in it within half of it, when the body is spooled), both needed with {@code
     * spooling}.
     */
    static CompletableFuture<HeldBody> hold(
            Flow.Publisher<ByteBuffer> source,
            Scan scan,
            Spooling spooling,
            MultipartModel form,
            ProxyRequest request) {
        HeldBody body = new HeldBody(scan, spooling, form, request);
        source.subscribe(body.new Source());
        return body.ready;
    }

    /** Whether the body was spooled (a file holds part of it until {@link #release}). */
    boolean spooled() {
        return file != null;
    }

    /** Deletes the spool file, if any: the call ended (or never began). Again does nothing. */
    void release() {
        UploadSpool.SpoolFile f = file;
        if (f != null) {
            f.delete();
        }
    }

    /** A multipart body's model, when its field came before any file; {@code null} otherwise. */
    String model() {
        if (far != null) {
            return far.model();
        }
        return model == null ? null : model.model();
    }

    void foundModel(MultipartModel.Found found) {
        this.model = found;
    }

    /** The held bytes, for a scan. */
    byte[] bytes() {
        return held;
    }

    int length() {
        return length;
    }

    /**
     * Sets the model the next call's copy names (an alias's or a fallback's upstream model); no change without a
     * model field, or for {@code null}.
     */
    void renameModel(String upstreamModel) {
        if (file != null) {
            renameSpooled(upstreamModel);
            return;
        }
        byte[] base = Arrays.copyOf(held, length);
        if (model == null || upstreamModel == null || upstreamModel.equals(model.model())) {
            head = base;
            return;
        }
        byte[] name = upstreamModel.getBytes(StandardCharsets.UTF_8);
        byte[] renamed = new byte[length - (model.end() - model.start()) + name.length];
        System.arraycopy(held, 0, renamed, 0, model.start());
        System.arraycopy(name, 0, renamed, model.start(), name.length);
        System.arraycopy(held, model.end(), renamed, model.start() + name.length, length - model.end());
        head = renamed;
    }

    /** How much longer (or shorter, negative) the next call's copy is than the client's body. */
    long lengthChange() {
        return file != null ? spooledChange : head.length - length;
    }

    /** The spooled copy's pieces: the whole body, or with the model's value replaced by the upstream's name. */
    private void renameSpooled(String upstreamModel) {
        long total = length + file.size() + (extra == null ? 0 : extra.length);
        List<Object> pieces = new ArrayList<>();
        if (far == null || upstreamModel == null || upstreamModel.equals(far.model())) {
            pieces(pieces, 0, total);
            spooledChange = 0;
        } else {
            byte[] name = upstreamModel.getBytes(StandardCharsets.UTF_8);
            pieces(pieces, 0, far.start());
            pieces.add(name);
            pieces(pieces, far.end(), total);
            spooledChange = name.length - (far.end() - far.start());
        }
        head = new byte[0];
        spooled = List.copyOf(pieces);
    }

    /** The pieces of the body's bytes from {@code from} to {@code to}: held, spooled, then the extra piece. */
    private void pieces(List<Object> out, long from, long to) {
        long fileEnd = length + file.size();
        if (from < length) {
            out.add(Arrays.copyOfRange(held, (int) from, (int) Math.min(to, length)));
        }
        for (long at = Math.max(from, length); at < Math.min(to, fileEnd); at += SPOOL_PIECE) {
            out.add(new long[] {at - length, Math.min(SPOOL_PIECE, Math.min(to, fileEnd) - at)});
        }
        if (extra != null && to > fileEnd) {
            out.add(Arrays.copyOfRange(extra, (int) (Math.max(from, fileEnd) - fileEnd), (int) (to - fileEnd)));
        }
    }

    /**
     * Whether the body was spooled to its end before any call read past the held bytes: every call gets all of it, so
     * a call answered (a 503) may be retried as a JSON body is.
     */
    synchronized boolean spooledWhole() {
        return file != null && end == COMPLETE && claimant == null;
    }

    /** Whether no call has read past the held bytes: the body can still go whole to another call. */
    synchronized boolean replayable() {
        return claimant == null;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
        Tail t = new Tail(subscriber, head, file != null ? spooled : null);
        subscriber.onSubscribe(t);
    }

    /** The client's body, read here until enough is held, then handed to the call that claims it. */
    private final class Source implements Flow.Subscriber<ByteBuffer> {
        @Override
        public void onSubscribe(Flow.Subscription s) {
            source = s;
            s.request(1);
        }

        @Override
        public void onNext(ByteBuffer item) {
            if (!ready.isDone()) {
                if (file != null) {
                    spool(item);
                    return;
                }
                int n = item.remaining();
                if (length + n > held.length) {
                    // Doubling, but never past the bound (or the piece that crosses it).
                    held = Arrays.copyOf(held, Math.max(length + n, Math.min(held.length * 2, BOUND)));
                }
                item.get(held, length, n);
                length += n;
                if (length >= BOUND || length >= scanAt && scanned()) {
                    if (!spoolBegan()) {
                        holdEnds();
                    }
                } else {
                    source.request(1);
                }
                return;
            }
            Tail t;
            synchronized (HeldBody.this) {
                t = claimant;
            }
            if (t != null) {
                t.next(item);
            }
        }

        /**
         * With spooling, when the held bytes name no model: reads them again for one past the file, and when there is
         * none yet, opens the spool file and reads on. {@code false} when the hold ends here.
         */
        private boolean spoolBegan() {
            if (spooling == null || !findInHeld()) {
                return false;
            }
            // A declared length must fit beside what is spooled and reserved, or it goes unspooled now (see open).
            long declared = RouteHandlers.declaredLength(request);
            file = declared > 0
                    ? spooling.spool().open(declared - length)
                    : spooling.spool().open();
            if (file == null) {
                return false; // no file (the spool off, or its directory unwritable): routed without the model
            }
            source.request(1);
            return true;
        }

        /** Whether the body should be read on: the held bytes hold no model field anywhere, nor the body's end. */
        private boolean findInHeld() {
            if (model != null) {
                return false;
            }
            MultipartModel.Result first = form.scan(held, length); // the routing step's own scan, done here
            if (first instanceof MultipartModel.Found f) {
                model = f; // before the file: today's path, nothing read on
                return false;
            }
            reader = form.reader();
            MultipartModel.Result r = reader.read(held, 0, length);
            if (r instanceof MultipartModel.FoundAt f) {
                model = new MultipartModel.Found(f.model(), (int) f.start(), (int) f.end());
                return false;
            }
            return r instanceof MultipartModel.More;
        }

        /** A piece past the held bytes: to the spool file (within the limits), read for the model. */
        private void spool(ByteBuffer item) {
            int n = item.remaining();
            if (length + file.size() + n > spooling.limit()) {
                source.cancel();
                fail(new BodyTooLargeException(spooling.limit()));
                return;
            }
            byte[] piece = new byte[n];
            item.get(piece);
            boolean looked = far != null; // the one piece read past the model
            MultipartModel.Result r = looked ? null : reader.read(piece, 0, n);
            boolean written;
            try {
                written = file.append(ByteBuffer.wrap(piece));
            } catch (IOException e) {
                written = false; // a full disk: routed as far as read, as past the spool's bound
            }
            if (!written) {
                extra = piece;
            }
            if (r instanceof MultipartModel.FoundAt f) {
                far = f;
                if (written) {
                    // One more look: the model is usually the last field, so the body's end (or its closing
                    // delimiter) comes next, and a body spooled to its end can go again to a retry or fallback.
                    source.request(1);
                    return;
                }
            }
            if (looked || !written || !(r instanceof MultipartModel.More)) {
                holdEnds();
            } else {
                source.request(1);
            }
        }

        /** Asks the scan, and when it wants more, how much more is held before it is asked again. */
        private boolean scanned() {
            if (scan.enough(held, length)) {
                return true;
            }
            scanAt = length + Math.max(RESCAN_STEP, length);
            return false;
        }

        @Override
        public void onError(Throwable error) {
            ended(error);
        }

        @Override
        public void onComplete() {
            ended(COMPLETE);
        }

        private void ended(Object how) {
            Tail t;
            synchronized (HeldBody.this) {
                end = how;
                t = claimant;
            }
            if (!ready.isDone()) {
                if (how instanceof Throwable error) {
                    fail(error);
                } else {
                    if (spooling != null && file == null) {
                        findInHeld(); // the model may follow the file in a body held whole
                    }
                    holdEnds(); // the whole body is held (or spooled)
                }
            } else if (t != null) {
                t.end(how);
            }
        }
    }

    private void holdEnds() {
        if (file != null) {
            renameSpooled(null);
        } else {
            head = Arrays.copyOf(held, length);
        }
        ready.complete(this);
    }

    /** The body failed before the hold ended: the spool file goes at once. */
    private void fail(Throwable error) {
        release();
        ready.completeExceptionally(error);
    }

    /** One call's subscription: the head first, then (claimed) the client's body's rest. */
    private final class Tail implements Flow.Subscription {
        private final Flow.Subscriber<? super ByteBuffer> downstream;
        private final byte[] first;
        /** The spooled pieces after {@link #first}; {@code null} when nothing was spooled. */
        private final List<Object> more;

        private int nextPiece;
        private long pending;
        private boolean headSent;
        private boolean emitting;
        private boolean claimed;
        private boolean cancelled;

        Tail(Flow.Subscriber<? super ByteBuffer> downstream, byte[] first, List<Object> more) {
            this.downstream = downstream;
            this.first = first;
            this.more = more;
            this.headSent = first.length == 0;
        }

        @Override
        public void request(long n) {
            if (Demand.refused(n, this, downstream)) {
                return;
            }
            boolean forward;
            synchronized (this) {
                if (cancelled) {
                    return;
                }
                forward = claimed;
                if (!forward) {
                    pending = Demand.add(pending, n);
                    if (emitting) {
                        return; // the thread emitting goes round again
                    }
                    emitting = true;
                }
            }
            if (forward) {
                source.request(n);
                return;
            }
            while (true) {
                boolean sendHead = false;
                Object piece = null;
                long rest;
                synchronized (this) {
                    if (cancelled) {
                        emitting = false;
                        return;
                    }
                    if (!headSent) {
                        headSent = true;
                        pending--;
                        sendHead = true;
                        rest = 0;
                    } else if (more != null && nextPiece < more.size()) {
                        if (pending == 0) {
                            emitting = false;
                            return;
                        }
                        pending--;
                        piece = more.get(nextPiece++);
                        rest = 0;
                    } else {
                        rest = pending;
                        pending = 0;
                        if (rest == 0) {
                            emitting = false;
                            return;
                        }
                    }
                }
                if (sendHead) {
                    downstream.onNext(ByteBuffer.wrap(first.clone()));
                    continue;
                }
                if (piece != null) {
                    if (!sendPiece(piece)) {
                        return;
                    }
                    continue;
                }
                claim(rest);
                return;
            }
        }

        /** Sends one spooled piece; {@code false} (the call failed) when its file could not be read. */
        private boolean sendPiece(Object piece) {
            ByteBuffer bytes;
            if (piece instanceof byte[] b) {
                bytes = ByteBuffer.wrap(b.clone());
            } else {
                long[] range = (long[]) piece;
                try {
                    bytes = file.read(range[0], (int) range[1]);
                } catch (IOException e) {
                    synchronized (this) {
                        cancelled = true;
                        emitting = false;
                    }
                    downstream.onError(e);
                    return false;
                }
            }
            downstream.onNext(bytes);
            return true;
        }

        /** Past the head: the rest of the body is this call's, or its end when the body ended while held. */
        private void claim(long demand) {
            Object endNow = null;
            boolean taken = false;
            synchronized (HeldBody.this) {
                if (claimant != null && claimant != this) {
                    taken = true; // an earlier call read the rest: this one would get the head alone
                } else if (end != null) {
                    endNow = end; // the body ended while held: the head was all of it
                } else {
                    claimant = this;
                }
            }
            synchronized (this) {
                claimed = true;
                emitting = false;
            }
            if (endNow != null) {
                end(endNow);
            } else if (taken) {
                cancelled = true;
                downstream.onError(new IllegalStateException("the request body was read by an earlier call"));
            } else {
                source.request(demand);
            }
        }

        void next(ByteBuffer item) {
            if (!cancelled) {
                downstream.onNext(item);
            }
        }

        void end(Object how) {
            if (cancelled) {
                return;
            }
            if (how instanceof Throwable error) {
                downstream.onError(error);
            } else {
                downstream.onComplete();
            }
        }

        @Override
        public void cancel() {
            boolean mine;
            synchronized (this) {
                if (cancelled) {
                    return;
                }
                cancelled = true;
            }
            synchronized (HeldBody.this) {
                mine = claimant == this;
            }
            if (mine) {
                source.cancel(); // it read past the head: the rest goes nowhere now
            }
            // Else the client's body was not touched past the head: the next call may have it whole.
        }
    }
}
