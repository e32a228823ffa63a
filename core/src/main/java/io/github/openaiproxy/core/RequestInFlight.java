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

    boolean cancelled() {
        return cancelled;
    }
}
