package io.github.openaiproxy.core;

import io.github.openaiproxy.core.internal.BodyTimeoutException;
import io.github.openaiproxy.core.internal.BodyTooLargeException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.Flow;

/**
 * A pass-through request body on its way to the upstream, counted against the size limit as it passes:
 * once more than the limit has arrived, the client's body is cancelled and the upstream's copy fails (its
 * call is aborted). Remembers why it ended early, so the engine answers 413 (too large), 408 (past {@code
 * request-body-timeout}) or 400 (the client broke off) instead of a gateway error. For an observer that wants the model, keeps the body's first few
 * kilobytes, where the {@code model} of a JSON body is.
 */
final class CountedRequestBody implements Flow.Publisher<ByteBuffer> {
    /** Enough for the {@code model} field of any JSON body that names it early, as the SDKs do. */
    private static final int PREFIX = 4096;

    private final Flow.Publisher<ByteBuffer> source;
    private final long limit;
    private final boolean keepPrefix;
    private volatile boolean tooLarge;
    private volatile boolean broken;
    /** The deadline that cut it off ({@code request-body-timeout}), {@code null} when none did. */
    private volatile Duration timedOut;
    /** The first bytes, for the model (guarded by this; only when {@code keepPrefix}). */
    private byte[] prefix;

    private int prefixLength;

    CountedRequestBody(Flow.Publisher<ByteBuffer> source, long limit, boolean keepPrefix) {
        this.source = source;
        this.limit = limit;
        this.keepPrefix = keepPrefix;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
        source.subscribe(new Counter(subscriber));
    }

    /** The limit the body is counted against, in bytes (named in the 413). */
    long limit() {
        return limit;
    }

    /** Whether the body went over the limit (and the upstream call was aborted for it). */
    boolean tooLarge() {
        return tooLarge;
    }

    /** Whether the client's body failed to arrive (the client broke off while sending). */
    boolean broken() {
        return broken;
    }

    /** The {@code request-body-timeout} the body did not arrive within (the call was aborted for it), if any. */
    Optional<Duration> timedOut() {
        return Optional.ofNullable(timedOut);
    }

    /** The model the body's first bytes name, if they do. */
    synchronized Optional<String> model() {
        return prefix == null ? Optional.empty() : ModelSniffer.model(Arrays.copyOf(prefix, prefixLength));
    }

    private synchronized void keep(ByteBuffer item) {
        if (prefix == null) {
            prefix = new byte[PREFIX];
        }
        int n = Math.min(item.remaining(), PREFIX - prefixLength);
        item.duplicate().get(prefix, prefixLength, n);
        prefixLength += n;
    }

    /** Counts the items as they pass; everything else is handed on unchanged. */
    private final class Counter extends BodyWatch {
        private long count;

        Counter(Flow.Subscriber<? super ByteBuffer> downstream) {
            super(downstream);
        }

        @Override
        public void onNext(ByteBuffer item) {
            if (done()) {
                return;
            }
            count += item.remaining();
            if (count > limit) {
                tooLarge = true;
                cutOff(new BodyTooLargeException(limit));
                return;
            }
            if (keepPrefix && prefixLength < PREFIX) {
                keep(item);
            }
            downstream.onNext(item);
        }

        @Override
        void failed(Throwable error) {
            if (error instanceof BodyTimeoutException late) {
                timedOut = late.timeout();
            } else {
                broken = true;
            }
        }
    }
}
