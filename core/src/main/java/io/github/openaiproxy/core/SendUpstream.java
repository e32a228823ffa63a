package io.github.openaiproxy.core;

import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.relay.ResponseRelay;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.upstream.Upstreams;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The last step of the simple and pass-through chains: builds the upstream request, takes a concurrency
 * permit (429/503 when there is none, answered at once), calls the upstream (502/504 when that fails) and
 * relays its answer. The permit is held until the client's copy of the body ends.
 */
final class SendUpstream implements RequestStep {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final UpstreamRequests upstreamRequests;
    private final UpstreamPermits permits;
    private final UpstreamClient upstream;
    private final ResponseRelay relay;
    /** The calls of requests routed to named upstreams (retries, fallbacks); {@code null} without any. */
    private final UpstreamAttempts attempts;
    /** Set by the engine's close(): read once a request, the cost of its check. */
    volatile boolean closing;

    SendUpstream(
            UpstreamRequests upstreamRequests, UpstreamPermits permits, UpstreamClient upstream, ResponseRelay relay) {
        this(upstreamRequests, permits, upstream, relay, null);
    }

    SendUpstream(
            UpstreamRequests upstreamRequests,
            UpstreamPermits permits,
            UpstreamClient upstream,
            ResponseRelay relay,
            UpstreamAttempts attempts) {
        this.attempts = attempts;
        this.upstreamRequests = upstreamRequests;
        this.permits = permits;
        this.upstream = upstream;
        this.relay = relay;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        if (closing) {
            return ctx.respond(ProxyError.shuttingDown()); // the upstream client is closing: never a call it drops
        }
        if (ctx.inFlight.cancelled()) {
            return ctx.respond(ProxyError.upstreamUnreachable());
        }
        ProxyRequest request = ctx.request;
        Normalized.Accepted normalized = ctx.normalized;
        UpstreamRequest upstreamRequest = ctx.target != null
                ? null
                : normalized == null
                        ? passThrough(ctx)
                        : upstreamRequests.json(
                                normalized.upstreamPath(), ctx.upstreamBody, normalized.stream(), ctx.key);
        UpstreamPermits.Ask ask = permits.acquire(ctx.callerAddress());
        if (ask instanceof UpstreamPermits.Refused refused) {
            // Answered at once, never queued: a client over its share retries, the proxy stays responsive.
            return ctx.respond(
                    refused == UpstreamPermits.Refused.TOTAL
                            ? ProxyError.overloaded()
                            : ProxyError.tooManyConcurrentCalls());
        }
        UpstreamPermits.Permit permit = (UpstreamPermits.Permit) ask;
        ctx.dropTrees(); // the bytes are built: no tree is held while the upstream works
        if (ctx.target != null) {
            return attempts.send(ctx, permit); // routed to a named upstream: retries and fallbacks
        }
        // Observers (tracing) may add the trace context; without any the request goes as built.
        if (ctx.observation != io.github.openaiproxy.core.observe.ProxyObserver.Observation.NONE) {
            upstreamRequest = ObservedUpstreamCall.started(
                    upstreamRequest,
                    ctx.observation,
                    Upstreams.DEFAULT,
                    io.github.openaiproxy.core.upstream.NamedUpstream.Kind.OPENAI,
                    ctx.model().orElse(null));
        }
        long sentAt = System.nanoTime();
        CompletableFuture<UpstreamResponse> sent;
        ctx.upstreamCalled = true;
        try {
            sent = upstream.send(upstreamRequest);
        } catch (RuntimeException e) {
            permit.release();
            throw e;
        }
        CompletableFuture<ProxyResponse> answer = ctx.inFlight
                .trackCall(sent)
                .handle((response, error) -> {
                    if (error == null) {
                        ctx.upstreamStatus = response.status();
                        ctx.observation.upstreamResponded(
                                response.status(), Duration.ofNanos(System.nanoTime() - sentAt));
                        // Held until the client's copy of the body ends, however it ends.
                        boolean expectsStream = ctx.normalized != null && ctx.normalized.stream();
                        CompletableFuture<ProxyResponse> relayed =
                                relay.relay(response, ctx.responses, ctx.key, ctx.clientKey, expectsStream);
                        if (!relayed.isDone() && UpstreamAttempts.isEventStream(response)) {
                            // A client that leaves before the stream's first event stops its read (a prefetch of a
                            // JSON body, untracked, runs on to its end as before).
                            ctx.inFlight.track(relayed);
                        }
                        return relayed.thenApply(permit::heldUntilDone);
                    }
                    permit.release();
                    return ctx.respond(failure(ctx, Failures.unwrap(error)));
                })
                .thenCompose(Function.identity())
                .whenComplete((r, error) -> {
                    if (error != null) {
                        permit.release(); // a bug on the way: the engine answers 500, the permit must not leak
                    }
                });
        // With named upstreams configured, every answer names the upstream; this one is the default's.
        return attempts == null
                ? answer
                : answer.thenApply(r -> r.withHeader(RouteUpstream.UPSTREAM_HEADER, Upstreams.DEFAULT));
    }

    private UpstreamRequest passThrough(RequestContext ctx) {
        ProxyRequest request = ctx.request;
        String query = request.rawQuery().orElse(null);
        String path = ctx.route.upstreamPath(request.path());
        CountedRequestBody streamed = ctx.streamed;
        return streamed == null
                ? upstreamRequests.passThrough(request.method(), path, query, request.headers(), ctx.body, ctx.key)
                : upstreamRequests.passThrough(
                        request.method(),
                        path,
                        query,
                        request.headers(),
                        new UpstreamRequest.StreamedBody(streamed, RouteHandlers.declaredLength(request)),
                        ctx.key);
    }

    /**
     * What a failed call means for the client: a streamed body that went over the limit is 413, one past {@code
     * request-body-timeout} 408, one the client broke off 400 (each aborted the call); otherwise the upstream is
     * unreachable or slow.
     */
    private ProxyError failure(RequestContext ctx, Throwable error) {
        return cutShort(ctx.streamed, error).orElseGet(() -> upstreamFailure(ctx, error));
    }

    /**
     * Why a streamed body ended the call early, if it did: 413 over the limit, 408 past {@code request-body-timeout},
     * 400 when the client broke off. Empty when there is no streamed body or it did not end the call.
     */
    static Optional<ProxyError> cutShort(CountedRequestBody streamed, Throwable error) {
        if (streamed == null) {
            return Optional.empty();
        }
        if (streamed.tooLarge()) {
            return Optional.of(ProxyError.payloadTooLarge(streamed.limit())); // the upload or body limit
        }
        if (streamed.timedOut().isPresent()) {
            return Optional.of(ProxyError.requestTimeout(streamed.timedOut().get()));
        }
        if (streamed.broken()) {
            LOG.log(System.Logger.Level.DEBUG, "request body could not be read: {0}", error.toString());
            return Optional.of(ProxyError.badRequest("Bad Request", "The request body could not be read", null));
        }
        return Optional.empty();
    }

    private static ProxyError upstreamFailure(RequestContext ctx, Throwable error) {
        if (error instanceof UpstreamFailure failure) {
            ctx.unansweredRequestSent |= failure.requestSent();
            LOG.log(
                    System.Logger.Level.WARNING,
                    "upstream call failed: {0}, x-request-id {1}",
                    failure.getMessage(),
                    ctx.loggedRequestId());
            return failure.kind() == UpstreamFailure.Kind.TIMEOUT
                    ? ProxyError.upstreamTimeout()
                    : ProxyError.upstreamUnreachable();
        }
        if (error instanceof CancellationException) {
            return ProxyError.upstreamUnreachable();
        }
        LOG.log(System.Logger.Level.WARNING, "upstream call failed, x-request-id " + ctx.loggedRequestId(), error);
        return ProxyError.upstreamUnreachable();
    }
}
