package io.github.openaiproxy.core.upstream;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import org.eclipse.jetty.client.AsyncRequestContent;
import org.eclipse.jetty.util.Callback;

/**
 * A streamed request body for Jetty's client: each buffer the client's body publishes is written when
 * Jetty has sent the previous one (one buffer asked for at a time, nothing read ahead). An error of the
 * publisher fails the upstream request; a failed request (aborted, cancelled) cancels the publisher.
 *
 * <p>The request is sent once the body's first signal is in ({@link #onFirstSignal}): Jetty then writes
 * the request's head together with the first buffer, and a small body that arrived with the client's
 * headers goes upstream in one write instead of two (one wake-up of the upstream instead of two, and no
 * upstream connection held for a client that has not started its body).
 */
final class JettyStreamedContent extends AsyncRequestContent implements Flow.Subscriber<ByteBuffer> {
    private final long length;
    private volatile Flow.Subscription subscription;
    private volatile boolean failed;
    /** Completed by the body's first signal (a buffer, its end or its failure). */
    private final CompletableFuture<Void> firstSignal = new CompletableFuture<>();

    JettyStreamedContent(String contentType, UpstreamRequest.StreamedBody body) {
        super(contentType);
        this.length = body.length();
        body.publisher().subscribe(this);
    }

    /** The client's declared length (sent as {@code Content-Length}), or -1 for chunked. */
    @Override
    public long getLength() {
        return length >= 0 ? length : -1;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        if (failed) {
            s.cancel();
        } else {
            s.request(1);
        }
    }

    /**
     * Runs {@code send} once the body has signalled for the first time: at once when it has, else on the
     * thread of that signal.
     */
    void onFirstSignal(Runnable send) {
        firstSignal.thenRun(send);
    }

    @Override
    public void onNext(ByteBuffer item) {
        write(item, Callback.from(this::requestNext, this::fail));
        firstSignal.complete(null); // after the write: the request goes out with this buffer
    }

    private void requestNext() {
        Flow.Subscription s = subscription;
        if (s != null && !failed) {
            s.request(1);
        }
    }

    @Override
    public void onError(Throwable t) {
        super.fail(t); // the publisher is done: nothing to cancel
        firstSignal.complete(null); // sending now fails the request with t
    }

    @Override
    public void onComplete() {
        close();
        firstSignal.complete(null);
    }

    /** Jetty failed the request (aborted, cancelled, the connection lost): stop reading the client's body. */
    @Override
    public void fail(Throwable failure) {
        failed = true;
        Flow.Subscription s = subscription;
        if (s != null) {
            s.cancel();
        }
        super.fail(failure);
        firstSignal.complete(null); // a request not sent yet is sent now, and fails at once
    }
}
