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
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Writes a {@link ProxyResponse} with Servlet non-blocking I/O. One body item is requested at a time,
 * and only when the socket can take more, so a slow client slows the upstream read (backpressure) and
 * no thread waits on the socket. For event streams the output is flushed after every event. When the
 * client goes away the body subscription is cancelled, which aborts the upstream call.
 */
final class ResponseBodyWriter implements Flow.Subscriber<List<ByteBuffer>> {
    private static final System.Logger LOG = System.getLogger(ResponseBodyWriter.class.getName());

    private final AsyncContext async;
    private final HttpServletResponse response;
    private final Queue<Object> signals = new ConcurrentLinkedQueue<>();
    private final AtomicInteger wip = new AtomicInteger();
    private final ArrayDeque<ByteBuffer> pending = new ArrayDeque<>();

    private volatile Flow.Subscription subscription;
    private volatile boolean aborted;
    private volatile ServletOutputStream out;
    private volatile boolean streaming;
    private volatile boolean started;
    /**
     * Whether the container has called {@code onWritePossible} once. Until then the socket is not
     * touched: Tomcat answers {@code isReady()} with false while its first write dispatch is pending, and
     * a response that is ready during {@code service()} (a 404, a 405) would otherwise wait forever.
     */
    private volatile boolean writePossibleSeen;

    /**
     * Held while this writer uses the container's objects (the response, its output stream, the async
     * context), and taken by the container's callbacks that end the exchange. The container recycles
     * those objects for other connections once the exchange has ended; a use that straddled that moment
     * (say an upstream thread's {@code complete()} racing the container's own completion after
     * {@code onError}) would act on another client's request, and could close its connection before its
     * first byte. Uncontended but for those callbacks: only the thread that owns {@link #wip} takes it.
     */
    private final Object exchangeLock = new Object();

    /** The exchange has ended (completed by this writer or by the container); guarded by {@link #exchangeLock}. */
    private boolean ended;

    private boolean requested;
    private boolean needsFlush;
    private boolean bodyComplete;
    private boolean flushedAtEnd;
    private boolean finished;

    private static final Object COMPLETE = new Object();

    ResponseBodyWriter(AsyncContext async, HttpServletResponse response) {
        this.async = async;
        this.response = response;
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

    /** Sets status and headers and starts relaying the body (any thread). Called once, after {@link #listen()}. */
    void start(ProxyResponse r) {
        synchronized (exchangeLock) {
            if (ended) {
                r.discard(); // the container ended the exchange first: its response may serve another client now
                return;
            }
            setHead(r);
        }
        r.body().subscribe(this);
        drain();
    }

    private void setHead(ProxyResponse r) {
        streaming = r.streaming();
        response.setStatus(r.status());
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
            } else {
                values.forEach(v -> response.addHeader(name, v));
            }
        });
        started = true;
    }

    /**
     * The container reports the exchange failed or ended ({@code onError}, {@code onTimeout},
     * {@code onComplete}; on a container thread): complete it now unless done already, so nothing of this
     * exchange touches the container's objects once the callback returns. Waits for a write in progress
     * on another thread to return first.
     */
    void containerEnded() {
        aborted = true;
        if (complete()) {
            abort(); // ended before its body was relayed: stop the upstream
        }
    }

    /**
     * Completes the exchange once, from any thread; a no-op after the exchange has ended, so a late caller
     * cannot complete (or touch) a request the container has recycled.
     *
     * @return whether this call ended the exchange
     */
    boolean complete() {
        synchronized (exchangeLock) {
            if (ended) {
                return false;
            }
            ended = true;
            try {
                async.complete();
            } catch (IllegalStateException e) {
                // the container completed it after an error
            }
            return true;
        }
    }

    /** The client is gone or the container failed the request: stop reading the upstream. */
    void abort() {
        aborted = true;
        Flow.Subscription s = subscription;
        if (s != null) {
            s.cancel();
        }
        drain();
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

    private void drain() {
        if (wip.getAndIncrement() != 0) {
            return;
        }
        synchronized (exchangeLock) {
            drainLocked();
        }
    }

    /** The relay loop, run by the thread that owns {@link #wip}, with {@link #exchangeLock} held. */
    @SuppressWarnings("unchecked")
    private void drainLocked() {
        do {
            if (ended && !finished) {
                finish(true); // ended by the container: not one more call on its objects
                continue;
            }
            if (finished || out == null || !started || !writePossibleSeen) {
                if (aborted && !finished && out != null) {
                    finish(true);
                }
                continue;
            }
            try {
                if (aborted) {
                    finish(true);
                    continue;
                }
                Object signal;
                while (pending.isEmpty() && (signal = signals.poll()) != null) {
                    if (signal == COMPLETE) {
                        bodyComplete = true;
                    } else if (signal instanceof Throwable t) {
                        // The status is out; what is left is to make sure the client sees the body incomplete.
                        ResponseAbort.of(response).abort(response, t);
                        finish(true);
                        break;
                    } else {
                        requested = false;
                        pending.addAll((List<ByteBuffer>) signal);
                        needsFlush = streaming;
                    }
                }
                if (finished) {
                    continue;
                }
                boolean writable = true;
                while (!pending.isEmpty() && (writable = out.isReady())) {
                    write(pending.poll());
                }
                if (!writable) {
                    continue; // onWritePossible will come
                }
                if (needsFlush) {
                    if (!out.isReady()) {
                        continue;
                    }
                    out.flush();
                    needsFlush = false;
                }
                if (bodyComplete) {
                    if (!out.isReady()) {
                        continue; // onWritePossible will come
                    }
                    if (!streaming && !flushedAtEnd) {
                        // Send what the container still buffers now, from this thread: async.complete() would
                        // send it only after a dispatch to a container thread, one more thread handoff before
                        // the client has its answer. (A stream's events were each flushed already.)
                        flushedAtEnd = true;
                        out.flush();
                        if (!out.isReady()) {
                            continue;
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
                Flow.Subscription s = subscription;
                if (s != null) {
                    s.cancel();
                }
                finish(true);
            }
        } while (wip.decrementAndGet() != 0);
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

    private void finish(boolean failed) {
        if (finished) {
            return;
        }
        finished = true;
        pending.clear();
        signals.clear();
        if (failed) {
            Flow.Subscription s = subscription;
            if (s != null) {
                s.cancel();
            }
        }
        complete();
    }
}
