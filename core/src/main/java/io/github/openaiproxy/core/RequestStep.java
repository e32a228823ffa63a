package io.github.openaiproxy.core;

import io.github.openaiproxy.core.http.ProxyResponse;
import java.util.concurrent.CompletableFuture;

/**
 * One step of a request's way through the engine; {@link RequestPipeline} lists the steps in order. A
 * step does one job and then either answers the request (returns a response without calling
 * {@code next}), changes it (records something on the {@link RequestContext}, then calls {@code next}), or
 * passes it on ({@code return next.proceed(context)}).
 *
 * <p>Steps are built once per engine and shared by all requests: keep per-request state on the context,
 * never in the step. A step runs on whatever thread completed the previous one; it must not block. A host
 * application adds its own steps with {@link ProxyEngine.Builder#step(Position, RequestStep)}.
 *
 * <p>A step that throws, returns {@code null}, or whose future fails or completes with {@code null} is a bug the
 * engine logs; the client gets the proxy's 500 ({@code internal_error}) in the route's error shape. The engine
 * sets no deadline of its own around a step: a future that never completes holds the request and its connection,
 * possibly for ever (Tomcat does not notice a client that leaves before the answer's headers).
 */
@FunctionalInterface
public interface RequestStep {
    /**
     * Handles the request, or passes it on.
     *
     * @param context the request and what earlier steps learned about it
     * @param next the rest of the pipeline; call it at most once: for a host application's step, a second
     *     {@link Chain#proceed} throws {@link IllegalStateException} (the rest of the pipeline, the upstream call
     *     included, runs once per request), so unless the step handles it the client gets the proxy's 500, and the
     *     answer of the first call is discarded once the step has failed; and only while the request is under way:
     *     called after its answer is known (by a step that kept it), it throws {@link IllegalStateException} and
     *     nothing runs. The context itself is no chain: {@code next} is the only way on
     * @return the response, completed once its headers are known
     */
    CompletableFuture<ProxyResponse> handle(RequestContext context, Chain next);

    /** The rest of the pipeline after a step. */
    interface Chain {
        /**
         * Runs the remaining steps.
         *
         * @param context the context the step was given (the request the chain belongs to runs on, whatever it is
         *     given)
         * @throws IllegalStateException when a host application's step calls it a second time, or after the
         *     request's answer is known
         */
        CompletableFuture<ProxyResponse> proceed(RequestContext context);
    }

    /** Where a host application's step runs. */
    enum Position {
        /**
         * First of all, around the whole pipeline: the step sees every response (the proxy's own errors
         * included) before it is written, and may change it, typically with
         * {@code next.proceed(context).thenApply(response -> ...)}. The request is not checked yet.
         */
        AFTER_RESPONSE_HEADERS,
        /**
         * After the request was checked and the key resolved; just before the upstream call. On the simple
         * routes the body is read and normalized by then (and no chat session is loaded yet); a pass-through
         * body is not read yet, it streams to the upstream during the call. A step here can refuse the
         * call, for example with {@link RequestContext#respond(io.github.openaiproxy.core.error.ProxyError)},
         * and the upstream sees nothing. Not run for module routes (their sub-requests run it).
         */
        BEFORE_UPSTREAM
    }
}
