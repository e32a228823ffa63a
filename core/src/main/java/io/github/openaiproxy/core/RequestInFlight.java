package io.github.openaiproxy.core;

import java.util.concurrent.CompletableFuture;

/**
 * What one request has in flight (a session lookup, the upstream call, a module route's answer) and how
 * to cancel it when the client goes away. Not shared between requests.
 */
final class RequestInFlight {
    private volatile CompletableFuture<?> call;
    private volatile boolean cancelled;

    /** Tracks {@code next} as what is in flight now; cancels it at once if the client is gone already. */
    <T extends CompletableFuture<?>> T track(T next) {
        call = next;
        if (cancelled) {
            next.cancel(true);
        }
        return next;
    }

    /** The client went away: abort whatever is in flight. */
    void cancel() {
        cancelled = true;
        CompletableFuture<?> c = call;
        if (c != null) {
            c.cancel(true);
        }
    }

    /**
     * The request was answered: whatever is still in flight is an answer nobody will read (a host step answered,
     * or passed the request on twice, while an upstream call was under way). Cancelled, so that the call gives back
     * its connection and its permit now, not when the upstream or an idle timeout ends it; the answer's own call
     * completed before the answer was known, so this cancels nothing on a request's usual way.
     */
    void abandon() {
        CompletableFuture<?> c = call;
        if (c != null && !c.isDone()) {
            c.cancel(true);
        }
    }

    boolean cancelled() {
        return cancelled;
    }
}
