package io.github.openaiproxy.core;

import io.github.openaiproxy.core.internal.BodyTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.Flow;

/**
 * A client's request body with a deadline for the whole of it ({@code request-body-timeout} from when the request
 * arrived, plus a second for each {@code request-body-min-rate} bytes received so far): bytes that come after it
 * cancel the body and fail its reader with a {@link BodyTimeoutException}, which the engine answers 408 (and a
 * streamed pass-through body's upstream call is aborted with it). The rate keeps an honest large upload on a slow
 * link going (512 MB at 64 kbit/s take 18 hours), while a client trickling a byte now and then gains next to nothing.
 *
 * <p>Checked as each piece arrives, with no timer: the container's read timeout already bounds the wait for the next
 * byte, so a client that trickles is cut off at most one read timeout after the deadline, and a request costs one
 * clock read per piece instead of a scheduled task. A body whose last piece came in time is never cut.
 */
final class DeadlineRequestBody implements Flow.Publisher<ByteBuffer> {
    private final Flow.Publisher<ByteBuffer> source;
    private final Duration timeout;
    private final long deadlineNanos;
    /** What each byte received adds to the deadline; 0 without a rate. */
    private final double nanosPerByte;

    /**
     * @param minRate bytes a second that extend the deadline ({@code request-body-min-rate}); 0: none
     * @param startedNanos when the request arrived ({@link System#nanoTime()})
     */
    DeadlineRequestBody(Flow.Publisher<ByteBuffer> source, Duration timeout, long minRate, long startedNanos) {
        this.source = source;
        this.timeout = timeout;
        this.deadlineNanos = startedNanos + timeout.toNanos();
        this.nanosPerByte = minRate > 0 ? 1e9 / minRate : 0;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
        source.subscribe(new Watch(subscriber));
    }

    /** Hands each piece on while the deadline holds; after it, cancels the body and fails its reader. */
    private final class Watch extends BodyWatch {
        /** Bytes handed on so far: the ones that extend the deadline. */
        private long received;

        Watch(Flow.Subscriber<? super ByteBuffer> downstream) {
            super(downstream);
        }

        @Override
        public void onNext(ByteBuffer item) {
            if (done()) {
                return;
            }
            long late = System.nanoTime() - deadlineNanos;
            if (late > 0 && late > received * nanosPerByte) {
                cutOff(new BodyTimeoutException(timeout));
                return;
            }
            received += item.remaining();
            downstream.onNext(item);
        }
    }
}
