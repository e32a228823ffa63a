package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Internal;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Reads an upstream answer's usage while it is relayed.
 *
 * <p>Streams: the usage comes from the chat chunk that carries a {@code usage} object (asked for with
 * {@code stream_options.include_usage}, by the client or by {@link #askForUsage}) or from the Responses API's
 * {@code response.completed}. Whole JSON answers: from their top-level {@code usage}, read as the bytes pass
 * without holding the body; an image answer's {@code data} entries are its images. An answer that ends
 * without usage (the client went away, the upstream sent none) is estimated: the request's counted input
 * plus the tokens of the text relayed so far, flagged {@link Metered#estimated()}. An error status
 * ({@code >= 400}) used nothing.
 */
@Internal
public final class UsageTap {
    private UsageTap() {}

    /**
     * Asks the upstream for usage on a streamed chat completion that did not ask for it: sets {@code
     * stream_options.include_usage} (other {@code stream_options} members are kept). Returns whether it did (the
     * tap then removes what the client would not have got). A malformed {@code stream_options} (not an object,
     * or an {@code include_usage} that is not a boolean) is left alone for the upstream to refuse.
     */
    public static boolean askForUsage(ObjectNode body) {
        if (body == null) {
            return false;
        }
        JsonNode stream = body.get("stream");
        JsonNode messages = body.get("messages");
        if (stream == null || !stream.isBoolean() || !stream.booleanValue() || messages == null) {
            return false;
        }
        JsonNode options = body.get("stream_options");
        if (options == null || options.isNull()) {
            body.putObject("stream_options").put("include_usage", true);
            return true;
        }
        if (!(options instanceof ObjectNode o)) {
            return false;
        }
        JsonNode include = o.get("include_usage");
        if (include == null || include.isNull() || (include.isBoolean() && !include.booleanValue())) {
            o.put("include_usage", true);
            return true;
        }
        return false; // asked for already, or malformed
    }

    /**
     * What a tap needs to know about the request.
     *
     * @param model the model the request names (for estimates); {@code null} when none
     * @param injectedUsage whether {@link #askForUsage} changed the request
     * @param startNanos {@link System#nanoTime()} when the request arrived
     * @param counter counts relayed output when the answer ends without usage
     * @param estimatedInputTokens the request's input tokens as counted before the call ({@link
     *     TokenCounter#inputTokens}), the input of an estimate; 0 when not counted
     */
    public record Spec(
            String model, boolean injectedUsage, long startNanos, TokenCounter counter, long estimatedInputTokens) {
        public Spec {
            Objects.requireNonNull(counter, "counter");
        }

        /** A spec without a counted input. */
        public Spec(String model, boolean injectedUsage, long startNanos, TokenCounter counter) {
            this(model, injectedUsage, startNanos, counter, 0);
        }
    }

    /**
     * Wraps an upstream answer: the bytes pass as they are, except what {@link #askForUsage} added (the usage
     * chunk and the {@code "usage":null} members), and {@code onDone} is called once when the body ends,
     * however it ends (completed, cancelled by the client, failed), before the end is passed on.
     */
    public static ProxyResponse tap(ProxyResponse answer, Spec spec, Consumer<Metered> onDone) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(onDone, "onDone");
        return new ProxyResponse(
                answer.status(), answer.headers(), new TappedBody(answer, spec, onDone), answer.streaming());
    }

    private static final class TappedBody implements Flow.Publisher<List<ByteBuffer>> {
        private final ProxyResponse answer;
        private final Spec spec;
        private final Consumer<Metered> onDone;
        private final AtomicBoolean done = new AtomicBoolean();

        TappedBody(ProxyResponse answer, Spec spec, Consumer<Metered> onDone) {
            this.answer = answer;
            this.spec = spec;
            this.onDone = onDone;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
            answer.body().subscribe(new Tap(downstream));
        }

        private final class Tap extends ForwardingSubscriber<List<ByteBuffer>> {
            private final boolean failed = answer.status() >= 400;
            private final StreamMeter stream = !failed && answer.streaming()
                    ? new StreamMeter(spec.model(), spec.counter(), spec.injectedUsage())
                    : null;
            private final JsonSkim skim = !failed && !answer.streaming() ? new JsonSkim(true) : null;
            private volatile long firstEventNanos = -1;
            private volatile boolean cancelled;

            Tap(Flow.Subscriber<? super List<ByteBuffer>> downstream) {
                super(downstream);
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
                if (answer.streaming() && firstEventNanos < 0) {
                    firstEventNanos = System.nanoTime();
                }
                if (stream != null) {
                    List<ByteBuffer> out = stream.onEvent(item);
                    if (out == null) {
                        // Dropped: the item met a demand the client still has, so ask for the next one.
                        if (!cancelled) {
                            super.request(1);
                        }
                        return;
                    }
                    item = out;
                } else if (skim != null) {
                    synchronized (skim) {
                        for (ByteBuffer b : item) {
                            skim.feed(b);
                        }
                    }
                }
                downstream.onNext(item);
            }

            @Override
            public void cancel() {
                cancelled = true;
                super.cancel();
                finish(UsageRecord.Outcome.CLIENT_GONE);
            }

            @Override
            public void onError(Throwable t) {
                finish(UsageRecord.Outcome.UPSTREAM_FAILED);
                downstream.onError(t);
            }

            @Override
            public void onComplete() {
                finish(UsageRecord.Outcome.COMPLETED);
                downstream.onComplete();
            }

            private void finish(UsageRecord.Outcome outcome) {
                if (!done.compareAndSet(false, true)) {
                    return;
                }
                Metered m;
                try {
                    m = metered(outcome);
                } catch (RuntimeException e) {
                    // Metering must not break the relay: an unreadable answer is recorded as used nothing.
                    m = metered(TokenUsage.NONE, true, null, outcome);
                }
                onDone.accept(m);
            }

            private Metered metered(UsageRecord.Outcome outcome) {
                if (failed) {
                    return metered(TokenUsage.NONE, false, null, UsageRecord.Outcome.UPSTREAM_FAILED);
                }
                TokenUsage usage;
                String model;
                String tier;
                boolean pending = false;
                int images;
                long output = 0;
                if (stream != null) {
                    usage = stream.usage();
                    model = stream.model();
                    tier = stream.serviceTier();
                    images = stream.images();
                    if (stream.upstreamError() && outcome == UsageRecord.Outcome.COMPLETED) {
                        outcome = UsageRecord.Outcome.UPSTREAM_FAILED;
                    }
                    if (usage == null) {
                        output = stream.outputTokens();
                    }
                } else {
                    synchronized (skim) {
                        usage = skim.usage();
                        model = skim.model();
                        tier = skim.serviceTier();
                        images = skim.images();
                        String status = skim.status();
                        // A background response: its usage comes with a later GET the proxy does not meter.
                        pending = usage == null && ("queued".equals(status) || "in_progress".equals(status));
                    }
                }
                if (usage != null) {
                    if (images > usage.images()) {
                        usage = usage.withImages(images);
                    }
                    return metered(usage, false, model, outcome, tier, false);
                }
                if (pending) {
                    return metered(new TokenUsage(0, 0, 0, 0, images), true, model, outcome, tier, true);
                }
                long input = Math.max(0, spec.estimatedInputTokens());
                if (input == 0 && output == 0) {
                    // Nothing counted (a list, a file, an image answer without usage): nothing to estimate.
                    return metered(new TokenUsage(0, 0, 0, 0, images), false, model, outcome);
                }
                return metered(new TokenUsage(input, 0, output, 0, images), true, model, outcome, tier, false);
            }

            private Metered metered(TokenUsage usage, boolean estimated, String model, UsageRecord.Outcome outcome) {
                return metered(usage, estimated, model, outcome, null, false);
            }

            private Metered metered(
                    TokenUsage usage,
                    boolean estimated,
                    String model,
                    UsageRecord.Outcome outcome,
                    String tier,
                    boolean pending) {
                return new Metered(
                        usage,
                        estimated,
                        model,
                        requestId(),
                        answer.status(),
                        answer.streaming(),
                        outcome,
                        firstEventNanos,
                        System.nanoTime(),
                        tier,
                        pending);
            }

            private String requestId() {
                return HeaderMap.first(answer.headers(), "x-request-id");
            }
        }
    }
}
