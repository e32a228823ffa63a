package io.github.openaiproxy.core;

import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;

/**
 * One request's way through its chain of steps: hands each step the rest of the chain as its {@code next}. It is
 * the engine's own, never the {@link RequestContext} a step is given: a host's step reaches it only through its
 * once-only {@code next} ({@link HostStep}), so it cannot run the rest of the pipeline a second time, nor skip the
 * steps before it by calling on from where a refusal stopped.
 *
 * <p>Once the request's answer is known ({@link RequestContext#finish}) it runs no step: a step behind a host step
 * that answered without waiting for it gets a failed future, which the steps before it clean up after as after any
 * failure (a permit, a reservation), instead of running on a request the container may have recycled.
 */
final class PipelineCursor implements RequestStep.Chain {
    private final RequestContext context;
    private final RequestStep[] steps;
    /** The next step's index; the steps run one after the other, so it needs no lock. */
    private int next;

    PipelineCursor(RequestContext context, RequestStep[] steps) {
        this.context = context;
        this.steps = steps;
    }

    @Override
    public CompletableFuture<ProxyResponse> proceed(RequestContext given) {
        // The request this cursor belongs to runs on, whatever context a step hands on (one it kept from another).
        if (context.answered()) {
            return CompletableFuture.failedFuture(
                    new IllegalStateException("the request has been answered: nothing may pass it on now"));
        }
        if (next >= steps.length) {
            throw new IllegalStateException("the pipeline has no step left to pass the request on to");
        }
        RequestStep step = steps[next++];
        CompletableFuture<ProxyResponse> answer;
        try {
            answer = step.handle(context, this);
        } catch (RuntimeException e) {
            // As a failed future: the steps before it release what they hold (a permit, a lease) on failure.
            return CompletableFuture.failedFuture(e);
        }
        if (answer == null) {
            // A host application's step broke its contract: a 500, not a NullPointerException in the container.
            return CompletableFuture.failedFuture(new NullPointerException(step + " returned no future"));
        }
        return answer;
    }
}
