package io.github.openaiproxy.core;

import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.relay.ResponseRelay;
import io.github.openaiproxy.core.upstream.KeyPool;
import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.RetryAfter;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.upstream.Upstreams;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The last step of the simple and pass-through chains: builds the upstream request, takes a concurrency
 * permit (429/503 when there is none, answered at once), calls the upstream (502/504 when that fails) and
 * relays its answer. The permit is held until the client's copy of the body ends.
 */
final class SendUpstream implements RequestStep {
    /** The response header naming the upstream that served: its configured name, never a URL or key. */
    static final String UPSTREAM_HEADER = RouteUpstream.UPSTREAM_HEADER;

    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final UpstreamRequests upstreamRequests;
    private final UpstreamPermits permits;
    private final UpstreamClient upstream;
    private final ResponseRelay relay;
    private final long limit;
    /** Whether upstreams are named, so that every answer says which one served (the default is "openai"). */
    private final boolean named;

    SendUpstream(
            UpstreamRequests upstreamRequests,
            UpstreamPermits permits,
            UpstreamClient upstream,
            ResponseRelay relay,
            long limit) {
        this(upstreamRequests, permits, upstream, relay, limit, false);
    }

    SendUpstream(
            UpstreamRequests upstreamRequests,
            UpstreamPermits permits,
            UpstreamClient upstream,
            ResponseRelay relay,
            long limit,
            boolean named) {
        this.limit = limit;
        this.named = named;
        this.upstreamRequests = upstreamRequests;
        this.permits = permits;
        this.upstream = upstream;
        this.relay = relay;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        if (ctx.inFlight.cancelled()) {
            return ctx.respond(ProxyError.upstreamUnreachable());
        }
        ProxyRequest request = ctx.request;
        Normalized.Accepted normalized = ctx.normalized;
        RouteUpstream.Target target = ctx.target;
        KeyPool.Slot slot = null;
        UpstreamRequest upstreamRequest;
        if (target != null) {
            KeyPool pool = target.pool();
            slot = pool.take();
            if (slot == null && !pool.isKeyless()) {
                return ctx.respond(allKeysResting())
                        .thenApply(r ->
                                r.withHeader(UPSTREAM_HEADER, target.upstream().name()));
            }
            ctx.key = slot == null ? null : slot.key();
            ctx.clientKey = false;
            upstreamRequest = target.requests()
                    .request(
                            request.method(),
                            request.path(),
                            request.rawQuery().orElse(null),
                            request.headers(),
                            ctx.body,
                            ctx.key,
                            target.upstreamModel());
        } else {
            upstreamRequest = normalized == null
                    ? passThrough(ctx)
                    : upstreamRequests.json(normalized.upstreamPath(), ctx.upstreamBody, normalized.stream(), ctx.key);
        }
        KeyPool.Slot used = slot;
        UpstreamPermits.Ask ask = permits.acquire(request.remoteAddress().orElse(null));
        if (ask instanceof UpstreamPermits.Refused refused) {
            // Answered at once, never queued: a client over its share retries, the proxy stays responsive.
            return ctx.respond(
                    refused == UpstreamPermits.Refused.TOTAL
                            ? ProxyError.overloaded()
                            : ProxyError.tooManyConcurrentCalls());
        }
        UpstreamPermits.Permit permit = (UpstreamPermits.Permit) ask;
        long sentAt = System.nanoTime();
        CompletableFuture<UpstreamResponse> sent;
        try {
            sent = upstream.send(upstreamRequest);
        } catch (RuntimeException e) {
            permit.release();
            throw e;
        }
        ctx.inFlight.track(sent);
        CompletableFuture<ProxyResponse> answer = sent.handle((response, error) -> {
                    if (error == null) {
                        ctx.observation.upstreamResponded(
                                response.status(), Duration.ofNanos(System.nanoTime() - sentAt));
                        if (used != null) {
                            judgeKey(target, used, response);
                        }
                        // Held until the client's copy of the body ends, however it ends.
                        boolean expectsStream = ctx.normalized != null && ctx.normalized.stream();
                        CompletableFuture<ProxyResponse> relayed =
                                relay.relay(response, ctx.responses, ctx.key, ctx.clientKey, expectsStream);
                        if (target != null && target.renamed()) {
                            relayed = relayed.thenCompose(r -> ModelEcho.restore(r, target.clientModel()));
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
        if (!named) {
            return answer;
        }
        String servedBy = target == null ? Upstreams.DEFAULT : target.upstream().name();
        return answer.thenApply(r -> r.withHeader(UPSTREAM_HEADER, servedBy));
    }

    /** A 429 rests the key for the upstream's Retry-After (or a default); a 401 or 403 takes it out. */
    private static void judgeKey(RouteUpstream.Target target, KeyPool.Slot slot, UpstreamResponse response) {
        int status = response.status();
        if (status == 429) {
            Duration rest = RetryAfter.of(response.headers()).orElse(NamedUpstream.DEFAULT_KEY_COOLDOWN);
            target.pool().coolDown(slot, rest);
        } else if (status == 401 || status == 403) {
            target.pool().remove(slot);
        }
    }

    /** Every key of the routed upstream is resting or out: the upstream cannot take this request. */
    private static ProxyError allKeysResting() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The model's upstream cannot take requests right now",
                "server_error",
                "upstream_unavailable",
                null,
                null,
                Map.of());
    }

    private UpstreamRequest passThrough(RequestContext ctx) {
        ProxyRequest request = ctx.request;
        String query = request.rawQuery().orElse(null);
        CountedRequestBody streamed = ctx.streamed;
        return streamed == null
                ? upstreamRequests.passThrough(
                        request.method(), request.path(), query, request.headers(), ctx.body, ctx.key)
                : upstreamRequests.passThrough(
                        request.method(),
                        request.path(),
                        query,
                        request.headers(),
                        new UpstreamRequest.StreamedBody(streamed, RouteHandlers.declaredLength(request)),
                        ctx.key);
    }

    /**
     * What a failed call means for the client: a streamed body that went over the limit is 413, one the
     * client broke off is 400 (both aborted the call); otherwise the upstream is unreachable or slow.
     */
    private ProxyError failure(RequestContext ctx, Throwable error) {
        CountedRequestBody streamed = ctx.streamed;
        if (streamed != null && streamed.tooLarge()) {
            return ProxyError.payloadTooLarge(limit);
        }
        if (streamed != null && streamed.broken()) {
            LOG.log(System.Logger.Level.DEBUG, "request body could not be read: {0}", error.toString());
            return ProxyError.badRequest("Bad Request", "The request body could not be read", null);
        }
        return upstreamFailure(error);
    }

    private static ProxyError upstreamFailure(Throwable error) {
        if (error instanceof UpstreamFailure failure) {
            LOG.log(System.Logger.Level.WARNING, "upstream call failed: {0}", failure.getMessage());
            return failure.kind() == UpstreamFailure.Kind.TIMEOUT
                    ? ProxyError.upstreamTimeout()
                    : ProxyError.upstreamUnreachable();
        }
        if (error instanceof CancellationException) {
            return ProxyError.upstreamUnreachable();
        }
        LOG.log(System.Logger.Level.WARNING, "upstream call failed", error);
        return ProxyError.upstreamUnreachable();
    }
}
