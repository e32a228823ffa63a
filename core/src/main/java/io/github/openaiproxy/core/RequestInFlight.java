package io.github.openaiproxy.core;

import java.util.concurrent.CompletableFuture;

/**
 * What one request has in flight (a session lookup, the upstream call, a module route's answer) and how
 * to cancel it when the client goes away. Not shared between requests.
 */
final class RequestInFlight {
    /** What is in flight now, and what the engine continues from when that is an upstream call. */
    private record Tracked(CompletableFuture<?> call, CompletableFuture<?> continued) {}

    private volatile Tracked tracked;
    private volatile boolean cancelled;
    /** Set by {@link #abandon}: the call is cancelled in the same order as when the client leaves. */
    private volatile boolean abandoned;

    /** Tracks {@code next} as what is in flight now; cancels it at once if the client is gone already. */
    <T extends CompletableFuture<?>> T track(T next) {
        Tracked t = new Tracked(next, null);
        tracked = t;
        if (cancelled) {
            cancel(t);
        }
        return next;
    }

    /**
     * Tracks an upstream call, and returns the future the engine continues from: it completes as {@code sent}
     * does, except when the client leaves. Then {@code sent} is cancelled first, which runs the upstream client's
     * own listeners on it (they abort the exchange), and only then the returned future, which runs the engine's
     * settling of the call (the prompt's tokens counted, the observers, the ledger) on this same thread. Were the
     * engine's stages on {@code sent} itself, they would run first (a future runs its latest dependents first), and
     * the upstream would work on, and bill, while they do: seconds when the first count loads the tokenizer.
     */
    <T> CompletableFuture<T> trackCall(CompletableFuture<T> sent) {
        CompletableFuture<T> continued = new CompletableFuture<>();
        sent.whenComplete((value, error) -> {
            if (error == null) {
                continued.complete(value);
            } else if (!((cancelled || abandoned) && sent.isCancelled())) {
                continued.completeExceptionally(error);
            } // else cancelled by cancel(): it completes continued once the upstream client's listeners have run
        });
        Tracked t = new Tracked(sent, continued);
        tracked = t;
        if (cancelled) {
            cancel(t);
        }
        return continued;
    }

    /** The client went away: abort whatever is in flight. */
    void cancel() {
        cancelled = true;
        Tracked t = tracked;
        if (t != null) {
            cancel(t);
        }
    }

    private static void cancel(Tracked t) {
        t.call().cancel(true);
        if (t.continued() != null && t.call().isCancelled()) {
            t.continued().cancel(true);
        }
    }

    /**
     * The request was answered: whatever is still in flight is an answer nobody will read (a host step answered,
     * or passed the request on twice, while an upstream call was under way). Cancelled, so that the call gives back
     * its connection and its permit now, not when the upstream or an idle timeout ends it; the answer's own call
     * completed before the answer was known, so this cancels nothing on a request's usual way.
     */
    void abandon() {
        Tracked t = tracked;
        if (t != null && !t.call().isDone()) {
            abandoned = true;
            cancel(t); // the upstream exchange aborted first, as when the client leaves
        }
    }

    boolean cancelled() {
        return cancelled;
    }
}
