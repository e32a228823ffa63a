package io.github.openaiproxy.core;

import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A host application's {@link RequestStep} as the pipeline runs it: its {@code next} passes the request on once.
 * A second {@code proceed} would run the rest of the pipeline again (the upstream call too, billed twice); it throws
 * {@link IllegalStateException} instead, which the client gets as the proxy's 500 unless the step handles it; so does
 * a call after the request was answered (a step that kept its {@code next}), which nothing would read. The
 * engine's own steps are not wrapped: only a host's step pays for the check (one object per request).
 */
final class HostStep implements RequestStep {
    private final RequestStep step;

    HostStep(RequestStep step) {
        this.step = step;
    }

    /** The host's step, for reading the pipeline. */
    RequestStep step() {
        return step;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext context, Chain next) {
        Once once = new Once(context, next);
        CompletableFuture<ProxyResponse> answer;
        try {
            answer = step.handle(context, once);
        } catch (RuntimeException e) {
            once.dropFirst();
            throw e;
        }
        if (answer == null) {
            once.dropFirst();
            return null; // the cursor makes it the 500, as for any step
        }
        return answer.whenComplete((response, error) -> {
            if (error != null || response == null) {
                once.dropFirst();
            }
        });
    }

    @Override
    public String toString() {
        return step.toString();
    }

    /** The rest of the pipeline, once, and only while the request is under way. */
    private static final class Once implements Chain {
        private final RequestContext context;
        private final Chain next;
        private final AtomicBoolean used = new AtomicBoolean();
        private volatile CompletableFuture<ProxyResponse> first;
        private volatile boolean twice;

        Once(RequestContext context, Chain next) {
            this.context = context;
            this.next = next;
        }

        @Override
        public CompletableFuture<ProxyResponse> proceed(RequestContext given) {
            if (context.answered()) {
                // A step that kept its next and called it later, from another thread: told at once, nothing runs.
                throw new IllegalStateException("a host RequestStep called next.proceed after the request was"
                        + " answered: it passes the request on only while the request is under way");
            }
            if (!used.compareAndSet(false, true)) {
                twice = true;
                throw new IllegalStateException("a host RequestStep called next.proceed twice: the rest of the"
                        + " pipeline (and the upstream call) runs once per request");
            }
            CompletableFuture<ProxyResponse> answer = next.proceed(given);
            first = answer;
            return answer;
        }

        /**
         * After the step failed: when it had passed the request on twice, the first answer it dropped gives back
         * what it holds (its upstream connection, a concurrency permit) once it comes.
         */
        void dropFirst() {
            CompletableFuture<ProxyResponse> f = first;
            if (twice && f != null) {
                f.thenAccept(r -> {
                    if (r != null) {
                        r.discard();
                    }
                });
            }
        }
    }
}
