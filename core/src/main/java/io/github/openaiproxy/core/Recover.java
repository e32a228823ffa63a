package io.github.openaiproxy.core;

import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;

/**
 * Turns a failure of the steps after it (a bug, a host step that threw or answered no response) into the proxy's
 * 500, with the request's CORS headers once they are judged: a browser can then read it, and the host's
 * {@link RequestStep.Position#AFTER_RESPONSE_HEADERS} steps, which run before this one, see it as they see every
 * other answer.
 */
final class Recover implements RequestStep {
    static final Recover STEP = new Recover();

    private Recover() {}

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        CompletableFuture<ProxyResponse> answer = next.proceed(ctx);
        if (answer.isDone() && !answer.isCompletedExceptionally() && answer.join() != null) {
            return answer; // answered at once: no allocation on the usual path
        }
        return answer.handle((response, error) -> error == null && response != null
                ? response
                : ProxyEngine.internalError(
                        ctx,
                        error != null ? error : new NullPointerException("the pipeline answered no response"),
                        ctx.responses()));
    }
}
