package io.github.openaiproxy.core.upstream;

import java.nio.ByteBuffer;
import java.util.concurrent.Flow;
import org.eclipse.jetty.client.AsyncRequestContent;
import org.eclipse.jetty.util.Callback;

/**
 * A streamed request body for Jetty's client: each buffer the client's body publishes is written when
 * Jetty has sent the previous one (one buffer asked for at a time, nothing read ahead). An error of the
 * publisher fails the upstream request; a failed request (aborted, cancelled) cancels the publisher.
 */
final class JettyStreamedContent extends AsyncRequestContent implements Flow.Subscriber<ByteBuffer> {
    private final long length;
    private volatile Flow.Subscription subscription;
    private volatile boolean failed;

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

    @Override
    public void onNext(ByteBuffer item) {
        write(item, Callback.from(this::requestNext, this::fail));
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
    }

    @Override
    public void onComplete() {
        close();
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
    }
}
