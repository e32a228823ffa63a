package io.github.openaiproxy.core.observe;

import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.usage.JsonSkim;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Wraps a response so its observer learns when the body ends (and how), when a stream's first event
 * leaves, and what token usage the upstream reported. The bytes pass unchanged.
 */
@Internal
public final class ObservedResponses {
    private ObservedResponses() {}

    /**
     * Returns {@code response} with an observed body.
     *
     * @param startNanos {@link System#nanoTime()} when the request arrived
     * @param parseUsage whether to look for {@code usage} (successful JSON or event-stream bodies)
     */
    public static ProxyResponse observe(
            ProxyResponse response, ProxyObserver.Observation observation, long startNanos, boolean parseUsage) {
        if (observation == ProxyObserver.Observation.NONE) {
            return response;
        }
        if (response.streaming()) {
            observation.streamOpened();
        }
        boolean usage = parseUsage && response.status() < 300;
        return new ProxyResponse(
                response.status(),
                response.headers(),
                new ObservedBody(response, observation, startNanos, usage),
                response.streaming());
    }

    private static final class ObservedBody implements Flow.Publisher<List<ByteBuffer>> {
        private final ProxyResponse response;
        private final ProxyObserver.Observation observation;
        private final long startNanos;
        private final boolean parseUsage;

        ObservedBody(
                ProxyResponse response, ProxyObserver.Observation observation, long startNanos, boolean parseUsage) {
            this.response = response;
            this.observation = observation;
            this.startNanos = startNanos;
            this.parseUsage = parseUsage;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            response.body().subscribe(new Tap(downstream));
        }

        private final class Tap extends ForwardingSubscriber<List<ByteBuffer>> {
            private final AtomicBoolean finished = new AtomicBoolean();
            /** A whole answer's usage and model, read as the bytes pass (never the body held). */
            private final JsonSkim skim = parseUsage && !response.streaming() ? new JsonSkim() : null;

            private boolean first = true;
            private boolean upstreamError;

            Tap(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
                super(downstream);
            }

            @Override
            public void cancel() {
                super.cancel();
                finish(Outcome.CLIENT_GONE);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
                if (response.streaming()) {
                    if (first) {
                        first = false;
                        observation.firstEvent(Duration.ofNanos(System.nanoTime() - startNanos));
                    }
                    if (startsWithError(item)) {
                        upstreamError = true;
                    }
                    if (parseUsage) {
                        UsageExtractor.reportEvent(item, observation);
                    }
                } else if (skim != null) {
                    for (ByteBuffer b : item) {
                        skim.feed(b);
                    }
                }
                downstream.onNext(item);
            }

            @Override
            public void onError(Throwable t) {
                finish(Outcome.UPSTREAM_FAILED);
                downstream.onError(t);
            }

            @Override
            public void onComplete() {
                if (skim != null) {
                    UsageExtractor.report(skim, observation);
                }
                finish(upstreamError ? Outcome.UPSTREAM_FAILED : Outcome.COMPLETED);
                downstream.onComplete();
            }

            private void finish(Outcome outcome) {
                if (finished.compareAndSet(false, true)) {
                    observation.finished(
                            response.status(),
                            response.streaming(),
                            outcome,
                            Duration.ofNanos(System.nanoTime() - startNanos));
                }
            }
        }
    }

    /** OpenAI's chat error event, with or without the space after {@code data:}. */
    private static final byte[][] ERROR_DATA = {bytes("data: {\"error\""), bytes("data:{\"error\"")};

    /** The Responses API's error event and its failed response, named on the event's first line. */
    private static final byte[][] ERROR_TYPES = {
        bytes("event: error"), bytes("event:error"), bytes("event: response.failed"), bytes("event:response.failed")
    };

    static boolean startsWithError(List<ByteBuffer> event) {
        if (event.isEmpty()) {
            return false;
        }
        ByteBuffer b = event.get(0).duplicate();
        // Line ends of the previous event may lead (a stream mixing CR and CRLF): the event starts after them.
        while (b.hasRemaining() && (b.get(b.position()) == '\r' || b.get(b.position()) == '\n')) {
            b.get();
        }
        for (byte[] prefix : ERROR_DATA) {
            if (startsWith(b, prefix, false)) {
                return true;
            }
        }
        for (byte[] prefix : ERROR_TYPES) {
            if (startsWith(b, prefix, true)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code b} starts with {@code prefix}, then (with {@code wholeLine}) the line's end. */
    private static boolean startsWith(ByteBuffer b, byte[] prefix, boolean wholeLine) {
        int at = b.position();
        if (b.limit() - at < prefix.length + (wholeLine ? 1 : 0)) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (b.get(at + i) != prefix[i]) {
                return false;
            }
        }
        if (!wholeLine) {
            return true;
        }
        byte next = b.get(at + prefix.length);
        return next == '\r' || next == '\n';
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
