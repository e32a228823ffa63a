package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import java.nio.ByteBuffer;
import java.util.concurrent.Flow;

/**
 * A tap on a client's request body that may cut it short ({@link CountedRequestBody} over its limit, {@link
 * DeadlineRequestBody} past its deadline): it cancels the body and fails the reader once, and hands on nothing the
 * body signals after that. One thread signals at a time (Reactive Streams' rule 1.3), so the flag needs no lock.
 */
abstract class BodyWatch extends ForwardingSubscriber<ByteBuffer> {
    private boolean done;

    BodyWatch(Flow.Subscriber<? super ByteBuffer> downstream) {
        super(downstream);
    }

    /** Whether the body ended, or was cut off: nothing more is handed on. */
    final boolean done() {
        return done;
    }

    /** Cancels the body and fails its reader with {@code why}. */
    final void cutOff(Throwable why) {
        done = true;
        cancel();
        downstream.onError(why);
    }

    /** Told once, before the reader, that the body itself failed (the client broke off, a watch before cut it). */
    void failed(Throwable error) {}

    @Override
    public final void onError(Throwable error) {
        if (!done) {
            done = true;
            failed(error);
            downstream.onError(error);
        }
    }

    @Override
    public final void onComplete() {
        if (!done) {
            done = true;
            downstream.onComplete();
        }
    }
}
