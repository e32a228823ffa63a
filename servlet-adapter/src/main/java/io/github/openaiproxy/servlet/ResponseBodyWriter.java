package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.http.ProxyResponse;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Writes a {@link ProxyResponse} with Servlet non-blocking I/O. One body item is requested at a time,
 * and only when the socket can take more, so a slow client slows the upstream read (backpressure) and
 * no thread waits on the socket. For event streams the output is flushed after every event. When the
 * client goes away the body subscription is cancelled, which aborts the upstream call.
 *
 * <p>One thread at a time uses the container's objects (the response, its output stream, the async
 * context): the one that owns the drain loop (work-in-progress counting). Every other caller, the body's
 * signals and the container's callbacks alike, only marks work and returns; no lock is held while calling
 * into the container. The container's end callbacks ({@code onError}, {@code onTimeout},
 * {@code onComplete}) must still not return while the drain loop is inside a call on those objects: the
 * container recycles them for other connections once the callback returns, and a write that straddled
 * that moment would act on another client's request. So the loop marks its calls ({@link #busy}) and an
 * end callback waits for the mark to clear, but only for a bounded time: Tomcat's {@code isReady()} may
 * itself wait for the processor's lock that the container holds while it calls back, and a callback that
 * waited for it without a bound would never return.
 */
final class ResponseBodyWriter implements Flow.Subscriber<List<ByteBuffer>> {
    private static final System.Logger LOG = System.getLogger(ResponseBodyWriter.class.getName());
    private static final Object COMPLETE = new Object();
    /** The longest an end callback waits for the drain loop's call on the container to return. */
    static final long END_WAIT_NANOS = 100_000_000L;

    private final AsyncContext async;
    private final HttpServletResponse response;
    private final long endWaitNanos;
    private final Queue<Object> signals = new ConcurrentLinkedQueue<>();
    private final AtomicInteger wip = new AtomicInteger();
    private final ArrayDeque<ByteBuffer> pending = new ArrayDeque<>();

    private volatile Flow.Subscription subscription;
    private volatile boolean aborted;
    private volatile ServletOutputStream out;
    /** The answer to relay, handed over by {@link #start}; its head is set by the drain loop. */
    private volatile ProxyResponse answer;

    private volatile boolean streaming;
    private volatile boolean started;
    /**
     * Whether the container has called {@code onWritePossible} once. Until then the socket is not
     * touched: Tomcat answers {@code isReady()} with false while its first write dispatch is pending, and
     * a response that is ready during {@code service()} (a 404, a 405) would otherwise wait forever.
     */
    private volatile boolean writePossibleSeen;

    /**
     * The container ended the exchange: from then on nobody starts a call on its objects. Written before
     * {@link #busy} is read by the end callbacks, and read after it is written by the drain loop, so that
     * of the two one always sees the other (both volatile).
     */
    private volatile boolean ended;
    /**
     * The thread of the drain loop while it is inside calls on the container's objects, else null. An end
     * callback on that very thread (Jetty may call them from within {@code complete()}) does not wait.
     */
    private volatile Thread busy;
    /** Whether {@code async.complete()} was called: once, by whichever side gets here first. */
    private final AtomicBoolean completed = new AtomicBoolean();
    /**
     * Given the completion of an answer relayed whole, runs it now or later (after the request body is read to
     * its end, see {@link ServletExchange}); an answer that failed completes at once.
     */
    private volatile Consumer<Runnable> beforeComplete = Runnable::run;

    // Owned by the thread that owns wip.
    private ProxyResponse discarded;
    private boolean requested;
    private boolean needsFlush;
    private boolean bodyComplete;
    private boolean flushedAtEnd;
    private boolean finished;

    ResponseBodyWriter(AsyncContext async, HttpServletResponse response) {
        this(async, response, END_WAIT_NANOS);
    }

    /** With another bound on an end callback's wait (tests). */
    ResponseBodyWriter(AsyncContext async, HttpServletResponse response, long endWaitNanos) {
        this.async = async;
        this.response = response;
        this.endWaitNanos = endWaitNanos;
    }

    /**
     * Registers the write listener. Must run on the container thread that started async processing:
     * Tomcat refuses {@code setWriteListener} from another thread while that dispatch is in progress.
     */
    void listen() throws IOException {
        ServletOutputStream stream = response.getOutputStream();
        stream.setWriteListener(socket);
        out = stream;
    }

    /** What runs the completion of an answer relayed whole (set before {@link #start}). */
    void beforeCompleting(Consumer<Runnable> gate) {
        beforeComplete = gate;
    }

    /**
     * Relays {@code r} (any thread), called once, after {@link #listen()}: the drain loop sets status and
     * headers and subscribes to the body. An exchange the container ended first only discards it.
     */
    void start(ProxyResponse r) {
        answer = r;
        drain();
    }

    /**
     * The container reports the exchange failed or ended ({@code onError}, {@code onTimeout},
     * {@code onComplete}; on a container thread): completes it now unless done already, and stops the
     * upstream. Waits only for a call of the drain loop on the container's objects, bounded.
     */
    void containerEnded() {
        ended = true;
        aborted = true;
        awaitNotBusy();
        if (complete(true)) {
            abort(); // ended before its body was relayed: stop the upstream
        } else {
            drain(); // the drain loop drops what is left, without touching the container
        }
    }

    /**
     * Completes the exchange once (the engine's answer failed, or the drain loop is done); a no-op once
     * the exchange has ended, so a late caller cannot complete (or touch) a request the container has
     * recycled.
     *
     * @return whether this call ended the exchange
     */
    boolean complete() {
        return complete(false);
    }

    private boolean complete(boolean byContainer) {
        if ((!byContainer && ended) || !completed.compareAndSet(false, true)) {
            return false;
        }
        try {
            async.complete();
        } catch (RuntimeException e) {
            // the container completed it after an error
        }
        return true;
    }

    /** The client is gone or the container failed the request: stop reading the upstream. */
    void abort() {
        aborted = true;
        cancelBody();
        drain();
    }

    /** Stops the body, and so the upstream call, once it is subscribed (else onSubscribe sees aborted). */
    private void cancelBody() {
        Flow.Subscription s = subscription;
        if (s != null) {
            s.cancel();
        }
    }

    /** Waits (bounded, never on a lock) while the drain loop is inside a call on the container's objects. */
    private void awaitNotBusy() {
        Thread owner = busy;
        if (owner == null || owner == Thread.currentThread()) {
            return;
        }
        long deadline = System.nanoTime() + endWaitNanos;
        for (int spins = 0; busy != null; spins++) {
            if (System.nanoTime() - deadline > 0) {
                // Most likely inside isReady(), waiting for the lock this callback's container holds.
                LOG.log(System.Logger.Level.DEBUG, "the exchange ended while a write was still in progress");
                return;
            }
            if (spins < 100) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(10_000L);
            }
        }
    }

    // --- body side

    @Override
    public void onSubscribe(Flow.Subscription s) {
        if (subscription != null) {
            s.cancel();
            return;
        }
        subscription = s;
        if (aborted) {
            s.cancel();
        }
        drain();
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        signals.add(item);
        drain();
    }

    @Override
    public void onError(Throwable t) {
        // The body broke after the status was sent; the best signal left is an incomplete response.
        LOG.log(System.Logger.Level.DEBUG, "response body failed: {0}", t.toString());
        signals.add(t);
        drain();
    }

    @Override
    public void onComplete() {
        signals.add(COMPLETE);
        drain();
    }

    // --- socket side

    private final WriteListener socket = new WriteListener() {
        @Override
        public void onWritePossible() {
            writePossibleSeen = true;
            drain();
        }

        @Override
        public void onError(Throwable t) {
            LOG.log(System.Logger.Level.DEBUG, "client write failed: {0}", t.toString());
            containerEnded();
        }
    };

    /** The relay loop: run by one thread at a time; the others only mark work and return. */
    private void drain() {
        if (wip.getAndIncrement() != 0) {
            return; // the thread draining now goes round once more
        }
        Thread self = Thread.currentThread();
        do {
            busy = self;
            try {
                if (ended || finished) {
                    if (!finished) {
                        finish(true); // ended by the container: not one more call on its objects
                    }
                    releaseUnstarted();
                    continue;
                }
                step();
            } finally {
                busy = null;
            }
        } while (wip.decrementAndGet() != 0);
    }

    /** One round of the loop, with {@link #busy} set and the exchange not ended. */
    @SuppressWarnings("unchecked")
    private void step() {
        if (out == null) {
            return;
        }
        if (!started) {
            ProxyResponse r = answer;
            if (r == null) {
                if (aborted) {
                    finish(true);
                }
                return;
            }
            try {
                setHead(r);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not start the response: {0}", e.toString());
                finish(true); // the loop's next round releases its body
                wip.incrementAndGet();
                return;
            }
            r.body().subscribe(this); // its signals come back here through drain()
        }
        if (!writePossibleSeen) {
            if (aborted) {
                finish(true);
            }
            return;
        }
        try {
            if (aborted) {
                finish(true);
                return;
            }
            Object signal;
            while (pending.isEmpty() && (signal = signals.poll()) != null) {
                if (signal == COMPLETE) {
                    bodyComplete = true;
                } else if (signal instanceof Throwable t) {
                    // The status is out; what is left is to make sure the client sees the body incomplete.
                    ResponseAbort.of(response).abort(response, t);
                    finish(true);
                    return;
                } else {
                    requested = false;
                    pending.addAll((List<ByteBuffer>) signal);
                    needsFlush = streaming;
                }
            }
            boolean writable = true;
            while (!pending.isEmpty() && (writable = out.isReady())) {
                write(pending.poll());
            }
            if (!writable) {
                return; // onWritePossible will come
            }
            if (needsFlush) {
                if (!out.isReady()) {
                    return;
                }
                out.flush();
                needsFlush = false;
            }
            if (bodyComplete) {
                if (!out.isReady()) {
                    return; // onWritePossible will come
                }
                if (!streaming && !flushedAtEnd) {
                    // Send what the container still buffers now, from this thread: async.complete() would
                    // send it only after a dispatch to a container thread, one more thread handoff before
                    // the client has its answer. (A stream's events were each flushed already.)
                    flushedAtEnd = true;
                    out.flush();
                    if (!out.isReady()) {
                        return;
                    }
                }
                finish(false);
            } else if (!signals.isEmpty()) {
                // The end of the body (or an error) arrived while the last item was still being
                // written; no other signal will come to pick it up, so go round once more.
                wip.incrementAndGet();
            } else if (!requested && subscription != null) {
                requested = true;
                subscription.request(1);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "writing to the client failed: {0}", e.toString());
            aborted = true;
            finish(true);
        }
    }

    /** Whether a header is a CORS one; without allocating, as it runs for every header of every answer. */
    private static boolean isCors(String name) {
        return name.regionMatches(true, 0, "access-control-", 0, "access-control-".length());
    }

    private static boolean anyCors(Set<String> names) {
        for (String n : names) {
            if (isCors(n)) {
                return true;
            }
        }
        return false;
    }

    private void setHead(ProxyResponse r) {
        streaming = r.streaming();
        response.setStatus(r.status());
        if (anyCors(r.headers().map().keySet())) {
            // The proxy's CORS answer is whole: a host filter's Access-Control-Allow-Credentials (or Max-Age) left
            // beside it would grant what the proxy's configuration does not.
            for (String n : List.copyOf(response.getHeaderNames())) {
                if (isCors(n)) {
                    response.setHeader(n, null); // removes it (Jetty, Tomcat 11)
                    if (response.containsHeader(n)) {
                        // Tomcat 10.1 ignores a null value: an empty one grants nothing (credentials need "true")
                        response.setHeader(n, "");
                    }
                }
            }
        }
        r.headers().map().forEach((name, values) -> {
            String n = name.toLowerCase(Locale.ROOT);
            if (n.equals("content-length")) {
                try {
                    response.setContentLengthLong(Long.parseLong(values.get(0)));
                } catch (NumberFormatException e) {
                    // a malformed upstream length is dropped: the container will chunk
                }
            } else if (n.equals("content-type")) {
                response.setContentType(values.get(0));
            } else if ((isCors(name) || n.equals("cache-control") || n.equals("x-content-type-options"))
                    && !values.isEmpty()) {
                // The proxy's answer replaces what a host filter set before it: a browser refuses two
                // Access-Control-Allow-Origin values (Spring's CorsFilter sets one too), Spring Security's
                // no-cache, written when the chain returns, would make a stored image uncacheable, and its
                // nosniff would be sent twice.
                response.setHeader(name, values.get(0));
                for (int i = 1; i < values.size(); i++) {
                    response.addHeader(name, values.get(i));
                }
            } else {
                values.forEach(v -> response.addHeader(name, v));
            }
        });
        started = true;
    }

    private void write(ByteBuffer b) throws IOException {
        if (b.hasArray()) {
            out.write(b.array(), b.arrayOffset() + b.position(), b.remaining());
        } else {
            byte[] copy = new byte[b.remaining()];
            b.duplicate().get(copy);
            out.write(copy);
        }
    }

    /** Ends this writer once: drops what is queued, stops the body when it failed, completes the exchange. */
    private void finish(boolean failed) {
        if (finished) {
            return;
        }
        finished = true;
        pending.clear();
        signals.clear();
        if (failed) {
            cancelBody();
            complete();
        } else {
            beforeComplete.accept(this::complete);
        }
    }

    /** An answer that came after the end, or whose head could not be set, releases its upstream body. */
    private void releaseUnstarted() {
        ProxyResponse r = answer;
        if (r != null && !started && r != discarded) {
            discarded = r;
            r.discard();
        }
    }
}
