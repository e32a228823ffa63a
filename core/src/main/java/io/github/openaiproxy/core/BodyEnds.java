package io.github.openaiproxy.core;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs something when an answer's body ends, however it ends. What the body it wraps does at its end comes first:
 * a completion or failure reaches this layer after passing the layers under it, and a cancel is passed down to
 * them before {@code onEnd} runs.
 */
final class BodyEnds {
    private BodyEnds() {}

    /** The answer with a body that runs {@code onEnd} once, however it ends (or is discarded). */
    static ProxyResponse onEnd(ProxyResponse r, Runnable onEnd) {
        Flow.Publisher<List<ByteBuffer>> body = r.body();
        AtomicBoolean ran = new AtomicBoolean();
        Runnable once = () -> {
            if (ran.compareAndSet(false, true)) {
                onEnd.run();
            }
        };
        Flow.Publisher<List<ByteBuffer>> ending = subscriber -> {
            java.util.Objects.requireNonNull(subscriber, "subscriber");
            body.subscribe(new ForwardingSubscriber<List<ByteBuffer>>(subscriber) {
                @Override
                public void cancel() {
                    try {
                        super.cancel();
                    } finally {
                        once.run();
                    }
                }

                @Override
                public void onError(Throwable t) {
                    once.run();
                    super.onError(t);
                }

                @Override
                public void onComplete() {
                    once.run();
                    super.onComplete();
                }
            });
        };
        return new ProxyResponse(r.status(), r.headers(), ending, r.streaming());
    }
}
