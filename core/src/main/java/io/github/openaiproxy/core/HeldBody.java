package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.Demand;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * An upload routed to a named upstream, its first bytes read and held before the upstream call: a multipart body up
 * to its {@code model} field (or its first file part, at most {@link #BOUND}), any other body its first piece (what
 * Jetty's client reads before it connects anyway). Each call that subscribes gets the held bytes (the model renamed
 * when an alias asks for another name), then the rest as it arrives. Until a call reads past the held bytes the
 * client's body stays where it is, so a call that failed before that (its connection refused) leaves it whole for the
 * next attempt; once one did, those bytes are gone and a later subscriber is refused.
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

    private static final Object COMPLETE = new Object();

    private final Scan scan;
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

    private HeldBody(Scan scan) {
        this.scan = scan;
    }

    /**
     * Reads {@code source} until {@code scan} has enough, {@link #BOUND} is reached or the body ends. Fails as the
     * body does (the client broke off, {@code request-body-timeout}).
     */
    static CompletableFuture<HeldBody> hold(Flow.Publisher<ByteBuffer> source, Scan scan) {
        HeldBody body = new HeldBody(scan);
        source.subscribe(body.new Source());
        return body.ready;
    }

    /** A multipart body's model, when its field came before any file; {@code null} otherwise. */
    String model() {
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
        return head.length - length;
    }

    /** Whether no call has read past the held bytes: the body can still go whole to another call. */
    synchronized boolean replayable() {
        return claimant == null;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
        Tail t = new Tail(subscriber, head);
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
                int n = item.remaining();
                if (length + n > held.length) {
                    // Doubling, but never past the bound (or the piece that crosses it).
                    held = Arrays.copyOf(held, Math.max(length + n, Math.min(held.length * 2, BOUND)));
                }
                item.get(held, length, n);
                length += n;
                if (length >= BOUND || length >= scanAt && scanned()) {
                    holdEnds();
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
                    ready.completeExceptionally(error);
                } else {
                    holdEnds(); // the whole body is held
                }
            } else if (t != null) {
                t.end(how);
            }
        }
    }

    private void holdEnds() {
        head = Arrays.copyOf(held, length);
        ready.complete(this);
    }

    /** One call's subscription: the head first, then (claimed) the client's body's rest. */
    private final class Tail implements Flow.Subscription {
        private final Flow.Subscriber<? super ByteBuffer> downstream;
        private final byte[] first;
        private long pending;
        private boolean headSent;
        private boolean emitting;
        private boolean claimed;
        private boolean cancelled;

        Tail(Flow.Subscriber<? super ByteBuffer> downstream, byte[] first) {
            this.downstream = downstream;
            this.first = first;
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
                claim(rest);
                return;
            }
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
