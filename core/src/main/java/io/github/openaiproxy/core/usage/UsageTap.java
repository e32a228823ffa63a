package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Internal;
import java.util.function.Consumer;

/**
 * Reads an upstream answer's usage while it is relayed. PLACEHOLDER: the usage branch replaces the bodies.
 */
@Internal
public final class UsageTap {
    private UsageTap() {}

    /**
     * Asks the upstream for usage on a streamed chat completion that did not ask for it: sets {@code
     * stream_options.include_usage}. Returns whether it did (the tap then removes what the client would not
     * have got).
     */
    public static boolean askForUsage(ObjectNode body) {
        return false;
    }

    /**
     * What a tap needs to know about the request.
     *
     * @param model the model the request names (for estimates); {@code null} when none
     * @param injectedUsage whether {@link #askForUsage} changed the request
     * @param startNanos {@link System#nanoTime()} when the request arrived
     * @param counter counts relayed output when the answer ends without usage
     */
    public record Spec(String model, boolean injectedUsage, long startNanos, TokenCounter counter) {}

    /**
     * Wraps an upstream answer: the bytes pass as they are, except what {@link #askForUsage} added (the usage
     * chunk and the {@code "usage":null} members), and {@code onDone} is called once when the body ends,
     * however it ends (completed, cancelled by the client, failed).
     */
    public static ProxyResponse tap(ProxyResponse answer, Spec spec, Consumer<Metered> onDone) {
        onDone.accept(new Metered(
                TokenUsage.NONE,
                true,
                null,
                null,
                answer.status(),
                answer.streaming(),
                UsageRecord.Outcome.COMPLETED,
                -1,
                System.nanoTime()));
        return answer;
    }
}
