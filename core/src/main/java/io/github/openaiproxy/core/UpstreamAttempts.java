package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.keys.ApiKey;
import io.github.openaiproxy.core.normalize.Normalized;
import io.github.openaiproxy.core.relay.ResponseRelay;
import io.github.openaiproxy.core.upstream.CircuitBreaker;
import io.github.openaiproxy.core.upstream.KeyPool;
import io.github.openaiproxy.core.upstream.NamedUpstream;
import io.github.openaiproxy.core.upstream.NamedUpstreamRequests;
import io.github.openaiproxy.core.upstream.RetryAfter;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamFailure;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamRequests;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.upstream.Upstreams;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The upstream call of a request routed to a named upstream: retries and fallbacks, strictly before the
 * first byte of an answer reaches the client. A connection failure, a timeout before the response headers
 * or a listed status (429 and 5xx by default) is retried on the same upstream (exponential backoff with
 * jitter, or the upstream's {@code retry-after-ms} / {@code Retry-After}), then the upstream's fallback
 * chain is taken, depth first, all inside the routed upstream's {@code retry-deadline}. Any other answer is
 * relayed, and from then on nothing is retried: a stream that breaks later ends with the SSE error event.
 * The body is in memory (the routing step read it), so each attempt sends it again; but an upload (multipart,
 * binary) streams from the client unread ({@code ctx.streamed}, counted against {@code max-upload-size}) and can be
 * sent once: once its call read any of it, nothing is retried and no fallback taken, its answer or failure is the
 * client's (a place skipped before any call, its circuit open or every key resting, or a call that failed before it
 * read the body, its connection refused, still moves on). A simple route's request
 * ({@code POST /}, image generation) is the proxy's own JSON, {@code ctx.upstreamBody}, sent to the normalized
 * body's OpenAI path with the proxy's headers, its model renamed per attempt.
 */
final class UpstreamAttempts {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());
    /** The response header listing the attempts: upstream names and statuses, nothing secret. */
    static final String ATTEMPTS_HEADER = "OpenAI-Proxy-Attempts";

    /**
     * The W3C Server-Timing header: {@code proxy;dur=} the proxy's own time before its first upstream call,
     * {@code upstream;dur=} the answering attempt's time to the upstream's headers, in milliseconds.
     */
    static final String SERVER_TIMING_HEADER = "Server-Timing";

    /** OpenAI's error code for a prompt longer than the model's context window. */
    static final String CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded";

    /** The longest 400 body read to look for {@link #CONTEXT_LENGTH_EXCEEDED}; an error is far shorter. */
    private static final int MAX_ERROR_BODY = 64 * 1024;

    /** The headers a simple route's upstream request is built from: the proxy wrote its JSON body. */
    private static final java.net.http.HttpHeaders SIMPLE_JSON = java.net.http.HttpHeaders.of(
            Map.of("Content-Type", List.of("application/json"), "Accept", List.of("application/json")), (n, v) -> true);

    private static final java.net.http.HttpHeaders SIMPLE_STREAM = java.net.http.HttpHeaders.of(
            Map.of("Content-Type", List.of("application/json"), "Accept", List.of("text/event-stream")),
            (n, v) -> true);

    private static final long BASE_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final RouteUpstream routing;
    private final UpstreamRequests defaultRequests;
    private final Optional<ApiKey> defaultKey;
    private final UpstreamClient upstream;
    /** The clients of upstreams with their own timeouts, by name; the others use {@link #upstream}. */
    private final Map<String, UpstreamClient> clients;

    private final ResponseRelay relay;

    UpstreamAttempts(
            RouteUpstream routing,
            UpstreamRequests defaultRequests,
            Optional<ApiKey> defaultKey,
            UpstreamClient upstream,
            Map<String, UpstreamClient> clients,
            ResponseRelay relay) {
        this.routing = routing;
        this.defaultRequests = defaultRequests;
        this.defaultKey = defaultKey;
        this.upstream = upstream;
        this.clients = clients;
        this.relay = relay;
    }

    /**
     * One place of the plan: an upstream (named, or the implicit default) and the client-side model name to
     * ask it for (its aliases still apply).
     */
    private record Step(String upstream, String model) {}

    /** Sends the routed request, holding {@code permit} until the client's copy of the answer ends. */
    CompletableFuture<ProxyResponse> send(RequestContext ctx, UpstreamPermits.Permit permit) {
        RouteUpstream.Target target = ctx.target;
        NamedUpstream first = target.upstream();
        long deadline = System.nanoTime() + first.retry().deadline().toNanos();
        List<Step> plan = plan(first, target.clientModel());
        if (target.modelInPath()) {
            // A retrieve answered for another model would be another model's card: only its own model is asked for.
            plan.removeIf(s -> !s.model().equals(target.clientModel()));
        }
        Run run = new Run(ctx, permit, plan, deadline);
        return run.attempt().whenComplete((r, error) -> {
            if (error != null) {
                permit.release(); // a bug on the way: the engine answers 500, the permit must not leak
            }
        });
    }

    /** The routed upstream, then its fallbacks depth first (each with its own chain), each place once. */
    private List<Step> plan(NamedUpstream first, String model) {
        List<Step> plan = new ArrayList<>();
        add(plan, new HashSet<>(), first.name(), model);
        return plan;
    }

    private void add(List<Step> plan, Set<Step> seen, String name, String model) {
        Step step = new Step(name, model);
        if (!seen.add(step)) {
            return;
        }
        plan.add(step);
        Optional<NamedUpstream> u = routing.upstreams().get(name);
        if (u.isEmpty()) {
            return; // the implicit default has no chain
        }
        for (NamedUpstream.Fallback f : u.get().fallback()) {
            add(plan, seen, f.upstream(), f.model().orElse(model));
        }
    }

    /** One request's way through the plan. Touched by one thread at a time (each attempt follows the last). */
    private final class Run {
        private final RequestContext ctx;
        private final UpstreamPermits.Permit permit;
        private final List<Step> plan;
        private final long deadline;
        private final StringBuilder attempts = new StringBuilder();
        /** The status of an event stream's attempt, noted once its first event came (or as {@code broken}). */
        private String unnoted;

        private int index;
        private int tries;
        /** Whether the context-window fallback was taken: once per request, so two upstreams cannot ping-pong. */
        private boolean contextTaken;
        /** When the first upstream call went, 0 before it. */
        private long firstSentAt;
        /** The last attempt's time to the upstream's headers; -1 when it had none (a failure, or not sent). */
        private long upstreamNanos = -1;
        /**
         * Whether a streamed body (an upload) went with a call: once that call read any of it, it cannot be sent again,
         * so no attempt follows.
         */
        private boolean streamSent;
        /** The last call, when it timed out with the request sent (the upstream bills it); else {@code null}. */
        private UnansweredCall unanswered;
        /**
         * Whether a 401 took a key out for this request already. A second key refusing the same request says the
         * request may be the reason (a model the keys may not use): that key stays, and the 401 is relayed, so that
         * one hostile request cannot empty the pool.
         */
        private boolean keyRefused;

        Run(RequestContext ctx, UpstreamPermits.Permit permit, List<Step> plan, long deadline) {
            this.ctx = ctx;
            this.permit = permit;
            this.plan = plan;
            this.deadline = deadline;
        }

        CompletableFuture<ProxyResponse> attempt() {
            if (ctx.inFlight.cancelled()) {
                permit.release();
                return finish(ctx.respond(ProxyError.upstreamUnreachable()), null);
            }
            if (unanswered != null) {
                // Another attempt follows a call the upstream had: that one is charged on its own, and whatever
                // this attempt ends in is the request's last call.
                List<UnansweredCall> earlier = new ArrayList<>(ctx.earlierUnanswered);
                earlier.add(unanswered);
                ctx.earlierUnanswered = List.copyOf(earlier);
                ctx.unansweredRequestSent = false;
                unanswered = null;
            }
            Step step = plan.get(index);
            Optional<NamedUpstream> named = routing.upstreams().get(step.upstream());
            CircuitBreaker breaker = routing.breaker(step.upstream());
            if (breaker != null && !breaker.allow()) {
                note(step, "open"); // the circuit is open: skipped, no call made, and it counts as failed
                Optional<Duration> trial = breaker.trialIn(); // when to come back, as for a resting key
                return moveOn(null, false).orElseGet(() -> fail(allKeysResting(trial), step));
            }
            KeyPool pool = named.map(u -> routing.pool(u.name())).orElse(null);
            KeyPool.Slot slot = pool == null ? null : pool.take();
            ApiKey key = pool == null ? defaultKey.orElse(null) : slot == null ? null : slot.key();
            if ((pool != null && slot == null && !pool.isKeyless()) || (pool == null && key == null)) {
                note(step, "no-key"); // every key resting or out, or no server key: this place has failed
                Optional<Duration> rest = pool == null ? Optional.empty() : pool.nextKeyIn();
                ProxyError none = pool != null && pool.allRemoved() ? everyKeyRefused() : allKeysResting(rest);
                return moveOn(null, false).orElseGet(() -> fail(none, step));
            }
            String upstreamModel = named.map(u -> step.model() == null ? null : u.upstreamModel(step.model()))
                    .orElse(step.model());
            UpstreamRequest request;
            Normalized.Accepted simple = ctx.normalized;
            String path = simple == null ? ctx.route.upstreamPath(ctx.request.path()) : simple.upstreamPath();
            if (ctx.target.modelInPath() && !upstreamModel.equals(ctx.target.clientModel())) {
                // An alias: the upstream is asked for its own name of the model (held to the clients' id rule).
                Optional<String> renamed = io.github.openaiproxy.core.route.RouteTable.modelPath(upstreamModel);
                if (renamed.isEmpty()) {
                    note(step, "unsupported");
                    return moveOn(null, false).orElseGet(() -> fail(ProxyError.upstreamUnreachable(), step));
                }
                path = renamed.get();
            }
            if (named.isPresent()) {
                NamedUpstreamRequests builder = routing.requests(step.upstream());
                if (!builder.serves(path, upstreamModel)) {
                    note(step, "unsupported");
                    return moveOn(null, false).orElseGet(() -> fail(ProxyError.upstreamUnreachable(), step));
                }
                if (simple != null) {
                    // A simple route's body is the proxy's JSON: the headers are the proxy's, as on the default.
                    request = builder.request(
                            "POST",
                            path,
                            null,
                            simple.stream() ? SIMPLE_STREAM : SIMPLE_JSON,
                            simpleBody(upstreamModel),
                            key,
                            upstreamModel);
                } else if (ctx.streamed != null) {
                    request = builder.request(
                            ctx.request.method(),
                            path,
                            ctx.request.rawQuery().orElse(null),
                            ctx.request.headers(),
                            streamedBody(upstreamModel),
                            key,
                            upstreamModel);
                } else {
                    request = builder.request(
                            ctx.request.method(),
                            path,
                            ctx.request.rawQuery().orElse(null),
                            ctx.request.headers(),
                            body(upstreamModel),
                            key,
                            upstreamModel);
                }
            } else if (simple != null) {
                request = defaultRequests.json(path, simpleBody(upstreamModel), simple.stream(), key);
            } else {
                ProxyRequest r = ctx.request;
                request = ctx.streamed != null
                        ? defaultRequests.passThrough(
                                r.method(),
                                path,
                                r.rawQuery().orElse(null),
                                r.headers(),
                                streamedBody(upstreamModel),
                                key)
                        : defaultRequests.passThrough(
                                r.method(), path, r.rawQuery().orElse(null), r.headers(), body(upstreamModel), key);
            }
            request = ObservedUpstreamCall.started(
                    request,
                    ctx.observation,
                    step.upstream(),
                    named.isPresent() ? named.get().kind() : NamedUpstream.Kind.OPENAI,
                    upstreamModel);
            ctx.key = key;
            ctx.clientKey = false;
            long sentAt = System.nanoTime();
            if (firstSentAt == 0) {
                firstSentAt = sentAt;
            }
            upstreamNanos = -1;
            CompletableFuture<UpstreamResponse> sent;
            ctx.upstreamCalled = true;
            streamSent = request.streamedBody() != null;
            try {
                sent = clients.getOrDefault(step.upstream(), upstream).send(request);
            } catch (RuntimeException e) {
                permit.release();
                throw e;
            }
            return ctx.inFlight
                    .trackCall(sent)
                    .handle((answer, error) -> {
                        if (error != null) {
                            Throwable cause = Failures.unwrap(error);
                            Optional<ProxyError> cut = SendUpstream.cutShort(ctx.streamed, cause);
                            if (cut.isPresent()) {
                                // The client's upload ended the call (413, 408, 400): not the upstream's failure.
                                note(step, "error");
                                return fail(cut.get(), step);
                            }
                            boolean timeout =
                                    cause instanceof UpstreamFailure f && f.kind() == UpstreamFailure.Kind.TIMEOUT;
                            note(step, timeout ? "timeout" : "error");
                            if (cause instanceof UpstreamFailure f && f.requestSent()) {
                                ctx.unansweredRequestSent = true;
                                unanswered = new UnansweredCall(step.upstream(), step.model(), System.nanoTime());
                            }
                            if (breaker != null && cause instanceof UpstreamFailure && !ctx.inFlight.cancelled()) {
                                if (timeout) {
                                    // The client chose how long it takes: its timeouts alone open nothing.
                                    breaker.timeout(caller());
                                } else {
                                    breaker.failure();
                                }
                            }
                            if (cause instanceof UpstreamFailure && !ctx.inFlight.cancelled()) {
                                Optional<CompletableFuture<ProxyResponse>> again = moveOn(null, true);
                                if (again.isPresent()) {
                                    return again.get();
                                }
                            }
                            return fail(
                                    timeout ? ProxyError.upstreamTimeout() : ProxyError.upstreamUnreachable(), step);
                        }
                        upstreamNanos = System.nanoTime() - sentAt;
                        // Decoded before anything reads it: a 429, 401 or 400 gzipped although the proxy asked for
                        // none is judged by what it says, not taken for another key's limit or a plain 400.
                        UpstreamResponse response = ResponseRelay.decoded(answer);
                        int status = response.status();
                        if (status >= 200 && status < 300 && isEventStream(response)) {
                            // Noted at its first event, or as broken: a stream that breaks before it is retried.
                            unnoted = Integer.toString(status);
                        } else {
                            note(step, Integer.toString(status));
                        }
                        if ((status == 429 || status == 401) && slot != null) {
                            // OpenAI answers 429 to a request too large for the key's tokens per minute too: no
                            // other key, nor a retry, would take it, and resting every key for it would refuse
                            // everyone else. Its (small) body says which. Likewise a restricted key's 401 for a
                            // route it has no scope for (missing_scope) is about the route the caller chose: taking
                            // the key out for it would let any caller empty the pool.
                            return BodyCollector.collectTruncated(response.body(), MAX_ERROR_BODY + 1)
                                    // A body that stalls must not hold the request (nor break it): read as empty.
                                    .orTimeout(
                                            Math.max(1, Math.min(MAX_429_READ_NANOS, deadline - System.nanoTime())),
                                            TimeUnit.NANOSECONDS)
                                    .exceptionally(broken -> new byte[0])
                                    .thenCompose(bytes -> {
                                        UpstreamResponse read = new UpstreamResponse(
                                                status,
                                                response.headers(),
                                                Bodies.responseOf(
                                                        bytes.length > MAX_ERROR_BODY
                                                                ? java.util.Arrays.copyOf(bytes, MAX_ERROR_BODY)
                                                                : bytes));
                                        if (status == 429 ? tooLarge(bytes) : refusedForTheRequest(bytes)) {
                                            if (breaker != null) {
                                                breaker.success(); // the upstream answered: about the request
                                            }
                                            return toClient(read, step, upstreamModel, key, sentAt);
                                        }
                                        return answered(
                                                read, step, named, pool, slot, breaker, upstreamModel, key, sentAt);
                                    });
                        }
                        return answered(response, step, named, pool, slot, breaker, upstreamModel, key, sentAt);
                    })
                    .thenCompose(Function.identity());
        }

        /** What an answer's status says: a key to rest or take out, a retry or fallback, else the answer relayed. */
        private CompletableFuture<ProxyResponse> answered(
                UpstreamResponse response,
                Step step,
                Optional<NamedUpstream> named,
                KeyPool pool,
                KeyPool.Slot slot,
                CircuitBreaker breaker,
                String upstreamModel,
                ApiKey key,
                long sentAt) {
            int status = response.status();
            boolean secondRefusal = status == 401 && slot != null && keyRefused;
            if (slot != null && !secondRefusal) {
                judgeKey(named.get(), pool, slot, response);
                keyRefused |= status == 401;
            }
            NamedUpstream.Retry retry = named.map(NamedUpstream::retry).orElse(NamedUpstream.Retry.DEFAULTS);
            if (breaker != null) {
                // The failures that are retried count towards opening (a 429 among them when listed:
                // a provider that keeps limiting every key is best left alone for a while).
                if (retry.statuses().contains(status)) {
                    breaker.failure();
                } else {
                    breaker.success();
                }
            }
            if (retry.statuses().contains(status)) {
                Optional<CompletableFuture<ProxyResponse>> again = moveOn(response, true);
                if (again.isPresent()) {
                    Bodies.discard(response.body());
                    return again.get();
                }
            }
            if (status == 401 && slot != null && !secondRefusal) {
                // The key was refused (and is out), before the model ran: the next key takes the request at once, or
                // with none left the fallback chain, as it would the next request (no key), rather than the caller
                // getting an authentication error its SDK never retries.
                Optional<CompletableFuture<ProxyResponse>> again = moveOn(response, true);
                if (again.isPresent()) {
                    Bodies.discard(response.body());
                    return again.get();
                }
            }
            // A retrieve has no context to outgrow, and the larger model's card would answer for another model.
            if (status == 400 && !contextTaken && !streamSent && named.isPresent() && !ctx.target.modelInPath()) {
                Optional<NamedUpstream.Fallback> larger = named.get().contextFallback();
                long length =
                        response.headers().firstValueAsLong("content-length").orElse(-1);
                if (larger.isPresent() && length <= MAX_ERROR_BODY) {
                    return contextFallback(response, step, upstreamModel, key, sentAt, larger.get());
                }
            }
            return toClient(response, step, upstreamModel, key, sentAt);
        }

        /** The answer that goes to the client, recorded once per request as without retries. */
        private CompletableFuture<ProxyResponse> toClient(
                UpstreamResponse response, Step step, String upstreamModel, ApiKey key, long sentAt) {
            ctx.upstreamStatus = response.status();
            ctx.observation.upstreamResponded(response.status(), Duration.ofNanos(System.nanoTime() - sentAt));
            return relay(response, step, upstreamModel, key);
        }

        /**
         * A 400 (of known length up to 64 KiB, or chunked) of an upstream with a context-fallback: its body is
         * read; OpenAI's
         * {@code context_length_exceeded} takes the larger model instead (and its chain from there), once per
         * request; any other 400 is relayed with the bytes read, unchanged.
         */
        private CompletableFuture<ProxyResponse> contextFallback(
                UpstreamResponse response,
                Step step,
                String upstreamModel,
                ApiKey key,
                long sentAt,
                NamedUpstream.Fallback larger) {
            return BodyCollector.collectTruncated(response.body(), MAX_ERROR_BODY + 1)
                    // A body that breaks off is no answer to relay nor judge: a gateway error, as below.
                    .exceptionally(broken -> null)
                    .thenCompose(bytes -> {
                        if (bytes == null) {
                            return fail(ProxyError.upstreamUnreachable(), step);
                        }
                        if (bytes.length > MAX_ERROR_BODY) {
                            // A chunked 400 longer than any error: its start is read and the rest gone, so it
                            // cannot be relayed whole; a cut body would be worse than a plain gateway error.
                            return fail(ProxyError.upstreamUnreachable(), step);
                        }
                        if (isContextLengthExceeded(bytes)
                                && !ctx.inFlight.cancelled()
                                && System.nanoTime() - deadline < 0) {
                            Step next =
                                    new Step(larger.upstream(), larger.model().orElse(step.model()));
                            plan.subList(index + 1, plan.size()).clear(); // the old chain asks for the old model
                            add(plan, new HashSet<>(plan), next.upstream(), next.model());
                            if (index + 1 < plan.size()) {
                                contextTaken = true;
                                index++;
                                tries = 0;
                                return attempt();
                            }
                        }
                        UpstreamResponse kept =
                                new UpstreamResponse(response.status(), response.headers(), Bodies.responseOf(bytes));
                        return toClient(kept, step, upstreamModel, key, sentAt);
                    });
        }

        /**
         * The next attempt, if the plan and the deadline allow one: the same place again while it has
         * retries left and its wait fits the deadline, else the next place at once. Empty: answer with
         * what there is.
         */
        private Optional<CompletableFuture<ProxyResponse>> moveOn(UpstreamResponse failed, boolean retryHere) {
            if (streamSent && !spooledWhole() && (failed != null || !streamWhole())) {
                // The upload went (part of it at least), or was answered: it is not sent again. A call that failed
                // before it read any of it (its connection refused) leaves it whole for the next attempt, and an
                // upload spooled to its end is whole for every attempt.
                return Optional.empty();
            }
            long now = System.nanoTime();
            Step step = plan.get(index);
            int retries = routing.upstreams()
                    .get(step.upstream())
                    .map(u -> u.retry().retries())
                    .orElse(NamedUpstream.Retry.DEFAULTS.retries());
            KeyPool pool = routing.pool(step.upstream());
            boolean keysLeft = pool == null || pool.isKeyless() || pool.usableCount() > 0;
            if (retryHere && tries < retries && keysLeft) {
                long wait = wait(failed, step);
                if (now + wait - deadline < 0) {
                    tries++;
                    return Optional.of(later(wait));
                }
            }
            if (index + 1 < plan.size() && now - deadline < 0) {
                index++;
                tries = 0;
                return Optional.of(attempt());
            }
            return Optional.empty();
        }

        /**
         * How long to wait before the same place again: the upstream's retry-after-ms / Retry-After, except
         * after a 429 or 401 on a pool with other keys (the limit or refusal was the key's); else exponential
         * backoff with jitter.
         */
        private long wait(UpstreamResponse failed, Step step) {
            long backoff = Math.min(MAX_BACKOFF_NANOS, BASE_BACKOFF_NANOS << Math.min(tries, 10));
            long jittered = backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
            if (failed == null) {
                return jittered;
            }
            Optional<Duration> asked = RetryAfter.of(failed.headers());
            KeyPool pool = routing.pool(step.upstream());
            if ((failed.status() == 429 || failed.status() == 401) && pool != null && !pool.isKeyless()) {
                return 0; // the limit or refusal was the key's, which now rests or is out: another key goes at once
            }
            return asked.map(Duration::toNanos).orElse(jittered);
        }

        private CompletableFuture<ProxyResponse> later(long waitNanos) {
            if (waitNanos <= 0) {
                return attempt();
            }
            // The JDK's shared delay thread: no thread of our own, none per request.
            return CompletableFuture.runAsync(
                            () -> {}, CompletableFuture.delayedExecutor(waitNanos, TimeUnit.NANOSECONDS, Runnable::run))
                    .thenCompose(v -> attempt());
        }

        private CompletableFuture<ProxyResponse> relay(
                UpstreamResponse response, Step step, String upstreamModel, ApiKey key) {
            boolean expectsStream = ctx.normalized != null && ctx.normalized.stream();
            // An event stream is handed over at its first event; one that breaks before it is tried again, as a 502
            // would be. Tracked: a client that leaves meanwhile stops its read.
            CompletableFuture<ProxyResponse> relayed =
                    relay.relayOrFail(response, ctx.responses, key, false, expectsStream);
            if (!relayed.isDone() && isEventStream(response)) {
                ctx.inFlight.track(relayed); // only a stream's wait stops its read when cancelled: a prefetch runs on
            }
            if (relayed.isDone() && !relayed.isCompletedExceptionally()) {
                if (unnoted != null) {
                    note(step, unnoted); // an event stream answered otherwise at once (a coding the proxy cannot read)
                    unnoted = null;
                }
                return relayed(relayed, step, upstreamModel);
            }
            return relayed.handle((r, error) -> {
                        String status = unnoted;
                        unnoted = null;
                        Throwable cause = error == null ? null : Failures.unwrap(error);
                        if (status != null && !(cause instanceof ResponseRelay.NoFirstEvent)) {
                            note(step, status);
                        }
                        return error == null ? relayed(relayed, step, upstreamModel) : noFirstEvent(cause, step);
                    })
                    .thenCompose(Function.identity());
        }

        private CompletableFuture<ProxyResponse> relayed(
                CompletableFuture<ProxyResponse> relayed, Step step, String upstreamModel) {
            RouteUpstream.Target target = ctx.target;
            String clientModel = target.clientModel();
            // An alias renamed the client's model: the answer names it as the client did. A fallback to another
            // model tells the truth.
            if (clientModel != null && clientModel.equals(step.model()) && !clientModel.equals(upstreamModel)) {
                String field = target.modelInPath() ? "id" : "model"; // a model object names itself by its id
                relayed = relayed.thenCompose(r -> ModelEcho.restore(r, clientModel, field));
            }
            return finish(relayed.thenApply(permit::heldUntilDone), step);
        }

        /**
         * An event stream that ended before its first event: nothing reached the client, so it is a failure before
         * the first byte, retried and fallen back as a 502 is. Its attempt reads {@code broken}, not its 200.
         */
        private CompletableFuture<ProxyResponse> noFirstEvent(Throwable error, Step step) {
            if (!(error instanceof ResponseRelay.NoFirstEvent none)) {
                // The client left (the read was cancelled), or a bug: no answer to give.
                return fail(ProxyError.upstreamUnreachable(), step);
            }
            note(step, "broken");
            LOG.log(
                    System.Logger.Level.WARNING,
                    "upstream {0} ended its event stream before the first event: {1}, x-request-id {2}",
                    step.upstream(),
                    none.getCause().toString(),
                    ctx.loggedRequestId());
            CircuitBreaker breaker = routing.breaker(step.upstream());
            if (breaker != null) {
                breaker.failure();
            }
            if (!ctx.inFlight.cancelled()) {
                Optional<CompletableFuture<ProxyResponse>> again = moveOn(null, true);
                if (again.isPresent()) {
                    return again.get();
                }
            }
            return fail(none.error(), step);
        }

        private CompletableFuture<ProxyResponse> fail(ProxyError error, Step step) {
            permit.release();
            return finish(ctx.respond(error), step);
        }

        private CompletableFuture<ProxyResponse> finish(CompletableFuture<ProxyResponse> answer, Step step) {
            String served = step == null ? plan.get(index).upstream() : step.upstream();
            String tried = attempts.toString();
            String timing = firstSentAt == 0 ? null : serverTiming(firstSentAt - ctx.startedAt, upstreamNanos);
            return answer.thenApply(r -> {
                ProxyResponse out = r.withHeader(RouteUpstream.UPSTREAM_HEADER, served);
                out = timing == null ? out : out.withHeader(SERVER_TIMING_HEADER, timing);
                return tried.isEmpty() ? out : out.withHeader(ATTEMPTS_HEADER, tried);
            });
        }

        /** Who makes this request, for the breaker: the identity's kind and subject (a key, a user, an address). */
        private String caller() {
            Identity id = ctx.identity;
            return id == null ? null : id.kind().name() + ':' + id.subject();
        }

        private void note(Step step, String outcome) {
            if (attempts.length() > 0) {
                attempts.append(", ");
            }
            attempts.append(step.upstream()).append(' ').append(outcome);
            ctx.observation.upstreamAttempt(step.upstream(), outcome);
        }

        /**
         * The client's upload as it arrives, with the length it declared; its held multipart model (if the routing step
         * read one) named as this attempt asks.
         */
        private UpstreamRequest.StreamedBody streamedBody(String upstreamModel) {
            long declared = RouteHandlers.declaredLength(ctx.request);
            HeldBody held = ctx.held;
            if (held != null) {
                held.renameModel(upstreamModel);
                declared = declared < 0 ? declared : declared + held.lengthChange();
            }
            return new UpstreamRequest.StreamedBody(ctx.streamed, declared);
        }

        /** Whether the upload was spooled whole before the call (see {@link HeldBody#spooledWhole()}). */
        private boolean spooledWhole() {
            return ctx.held != null && ctx.held.spooledWhole();
        }

        /** Whether the upload is still whole: no call read any of it past what the routing step holds. */
        private boolean streamWhole() {
            return ctx.held != null && ctx.held.replayable();
        }

        /** The client's body for this model: as sent when the model is the client's own, else renamed. */
        private byte[] body(String upstreamModel) {
            RouteUpstream.Target target = ctx.target;
            if (upstreamModel == null || upstreamModel.equals(target.clientModel())) {
                return target.clientBytes();
            }
            if (upstreamModel.equals(target.upstreamModel())) {
                return ctx.body; // the routing step's rename
            }
            // Parsed again for this fallback: no tree is held for the whole call (see RequestContext#dropTrees).
            ObjectNode renamed = Json.objectOrNull(target.clientBytes());
            if (renamed == null) {
                return target.clientBytes(); // no JSON object: sent as it came
            }
            renamed.put("model", upstreamModel);
            return Json.bytes(renamed);
        }

        /**
         * A simple route's body for this model: {@code ctx.upstreamBody} as the steps left it (normalized, with a
         * session's history), its model renamed when an alias or a fallback asks for another name.
         */
        private byte[] simpleBody(String upstreamModel) {
            byte[] body = ctx.upstreamBody;
            if (upstreamModel == null || upstreamModel.equals(ctx.target.clientModel())) {
                return body;
            }
            try {
                if (Json.parse(body) instanceof ObjectNode o) {
                    o.put("model", upstreamModel);
                    return Json.bytes(o);
                }
            } catch (java.io.IOException | RuntimeException e) {
                // The proxy wrote it: always a JSON object.
            }
            return body;
        }
    }

    /** Whether an answer is an event stream, by its {@code Content-Type}. */
    static boolean isEventStream(UpstreamResponse response) {
        String type = HeaderMap.first(response.headers(), "content-type");
        return type != null && HeaderMap.isEventStreamType(type);
    }

    /** Whether an error body is OpenAI's context-window error: {@code {"error":{"code":"context_length_exceeded"}}}. */
    static boolean isContextLengthExceeded(byte[] body) {
        try {
            com.fasterxml.jackson.databind.JsonNode code =
                    Json.parse(body).path("error").path("code");
            return code.isTextual() && code.textValue().equals(CONTEXT_LENGTH_EXCEEDED);
        } catch (java.io.IOException | RuntimeException notJson) {
            return false;
        }
    }

    /** {@code proxy;dur=1.2, upstream;dur=345.6}: milliseconds with one decimal; no upstream part without headers. */
    static String serverTiming(long proxyNanos, long upstreamNanos) {
        StringBuilder b = new StringBuilder(48).append("proxy;dur=");
        millis(b, proxyNanos);
        if (upstreamNanos >= 0) {
            millis(b.append(", upstream;dur="), upstreamNanos);
        }
        return b.toString();
    }

    private static void millis(StringBuilder b, long nanos) {
        long tenths = Math.max(0, nanos) / 100_000;
        b.append(tenths / 10).append('.').append(tenths % 10);
    }

    /** The longest a 429's or 401's (small) body is waited for before the key is judged. */
    private static final long MAX_429_READ_NANOS = TimeUnit.SECONDS.toNanos(5);

    /** OpenAI's 429 for a request over the key's whole tokens-per-minute limit, which no key or wait would take. */
    static boolean tooLarge(byte[] body) {
        String text = new String(body, 0, Math.min(body.length, 4096), java.nio.charset.StandardCharsets.UTF_8);
        return text.toLowerCase(java.util.Locale.ROOT).contains("request too large");
    }

    /**
     * A 401 about the request, not the key: OpenAI's for a restricted key without the scope a route needs ("Missing
     * scopes: api.responses.write", code {@code missing_scope}), and LiteLLM's for a model its virtual key may not use
     * ({@code key_model_access_denied}, "key not allowed to access model"): the key works for the others.
     */
    static boolean refusedForTheRequest(byte[] body) {
        String text = new String(body, 0, Math.min(body.length, 4096), java.nio.charset.StandardCharsets.UTF_8)
                .toLowerCase(java.util.Locale.ROOT);
        return text.contains("missing_scope")
                || text.contains("missing scopes")
                || text.contains("key_model_access_denied")
                || text.contains("not allowed to access model");
    }

    /**
     * A 429 rests the key for the upstream's Retry-After (or its key-cooldown); a 401 (a wrong, revoked or disabled
     * key) takes it out. A 403 does not: it is about the request (a model the organization may not use yet, a
     * region, a network rule), and one client asking for such a model must not take every key out for everyone.
     */
    static void judgeKey(NamedUpstream upstream, KeyPool pool, KeyPool.Slot slot, UpstreamResponse response) {
        int status = response.status();
        if (status == 429) {
            pool.coolDown(
                    slot,
                    RetryAfter.of(response.headers()).orElse(upstream.retry().keyCooldown()));
        } else if (status == 401) {
            pool.remove(slot);
        }
    }

    /**
     * Every key of the routed upstream is resting or out, or its circuit is open: the upstream cannot take this
     * request. With the time until a resting key is usable again (or the breaker's trial may go), it says so
     * ({@code retry-after-ms}, {@code Retry-After}), as the upstream's 429 did: the SDKs retry a 503 after their own
     * half second and second otherwise, and give up before the key is back.
     */
    static ProxyError allKeysResting(Optional<Duration> rest) {
        Map<String, String> headers = rest.map(r -> Map.of(
                        "retry-after-ms", Long.toString(Math.max(1, r.toMillis())),
                        "Retry-After", Long.toString(Math.max(1, (r.toMillis() + 999) / 1000))))
                .orElse(Map.of());
        return unavailable(headers);
    }

    private static ProxyError unavailable(Map<String, String> headers) {
        return new ProxyError(
                503,
                "Service Unavailable",
                "The model's upstream cannot take requests right now",
                "server_error",
                "upstream_unavailable",
                null,
                null,
                headers);
    }

    /**
     * Every key of the routed upstream was refused by it (401) and taken out: the same 503 as {@link #allKeysResting},
     * naming no key, with {@code x-should-retry: false}. The SDKs retry a 503, and this one lasts until an operator
     * fixes the keys and restarts the proxy.
     */
    static ProxyError everyKeyRefused() {
        return unavailable(Map.of("x-should-retry", "false"));
    }

    @Override
    public String toString() {
        return "UpstreamAttempts[" + Upstreams.DEFAULT + " + "
                + routing.upstreams().all().size() + " named]";
    }
}
