package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.QuotaCounters.Kind;
import io.github.openaiproxy.core.QuotaCounters.Spec;
import io.github.openaiproxy.core.UsageEstimate.Call;
import io.github.openaiproxy.core.UsageEstimate.Estimate;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.LimitsConfig;
import io.github.openaiproxy.core.limits.StoreDeadlines;
import io.github.openaiproxy.core.upstream.Upstreams;
import io.github.openaiproxy.core.usage.Metered;
import io.github.openaiproxy.core.usage.PriceTable;
import io.github.openaiproxy.core.usage.TokenCounter;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.UsageTap;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The policy's quotas (rate limits, concurrency, token and money budgets) and the usage ledger, on every route
 * that reaches the upstream: the simple chain (after the authorize step, so caps are applied and the normalized
 * body is known; GraphQL and session chats run their calls through it) and the pass-through chain (after the
 * authorize and routing steps, before the body streams).
 *
 * <p>Before the call it reserves, all or nothing, in the {@link LimitStore}: one request on each request
 * counter, an estimate of the tokens (the prompt counted by the model's tokenizer plus the output cap: the
 * request's, else the policy's {@code max-tokens}, else {@code limits.default-output-tokens}), the estimate's
 * price on the money budgets, and a concurrency lease. What does not fit is answered 429 (rate limits: {@code
 * rate_limit_exceeded} with {@code Retry-After} and OpenAI's {@code x-ratelimit-*} headers; budgets: {@code
 * insufficient_quota} with {@code x-should-retry: false}), and nothing reaches the upstream. A request whose
 * estimate is over a token rate limit's whole amount could never fit: 400 naming the parameter.
 *
 * <p>When the answer ends (completed, failed, or the client gone) the reservation is settled with the real
 * usage the {@link UsageTap} read (refunding an overestimate, charging what went over), the lease is given
 * back, and one {@link UsageRecord} goes to the ledger. A request that ended before the upstream call (a later
 * step refused it) is refunded whole and leaves no record.
 *
 * <p>The counters of a proxy key with an owner are also charged to the owner under the same policy (subject
 * {@code <policy>|owner:<owner>}), with the same limits: a team does not multiply its limits by minting keys.
 * Users and tokens are their own owners, so they count once.
 *
 * <p>A policy without quotas, with the ledger off, passes at once: no body read, nothing allocated.
 */
final class LimitStep implements RequestStep {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());
    /** Longer model names are cut in the ledger (and priced as cut: no price has such a name). */
    static final int MAX_MODEL_NAME = 256;

    /** Reads an answer's usage while it is relayed; {@link UsageTap#tap} but in tests. */
    @FunctionalInterface
    interface Tap {
        ProxyResponse tap(ProxyResponse answer, UsageTap.Spec spec, Consumer<Metered> onDone);
    }

    final LimitStore store;
    final LimitsConfig config;
    final UsageLedger ledger;
    final boolean ledgerOn;
    final TokenCounter tokens;
    final PriceTable prices;
    private final Tap tap;
    private final long bodyLimit;
    /** Whether the default upstream (of {@code base-url}) may be asked for a stream's usage. */
    private final boolean askDefaultUpstream;
    /** The step of the routes that count as a request (see {@link #countedRoutes()}). */
    private final CountedRoutes countedRoutes = new CountedRoutes();

    final Clock clock;
    final LimitBacklog backlog;
    /** Lease and settlement ids unique across instances sharing a store. */
    private final String instance = UUID.randomUUID().toString();

    private final AtomicLong leases = new AtomicLong();

    /** A lease id unique across the instances that share the store. */
    String nextLeaseId() {
        return instance + "." + leases.incrementAndGet(); // a plain id: stores keep it as it is, unhashed
    }

    /**
     * A request's id, unique as a lease id: it names its reservations ({@link
     * io.github.openaiproxy.core.limits.Reservation#reservationId}) and settlements ({@link
     * io.github.openaiproxy.core.limits.Adjustment#settlementId}).
     */
    String nextRequestId() {
        return instance + ".s" + leases.incrementAndGet();
    }

    /** The id of a charge kept while the store was down ({@link LimitStore#count}), unique as a lease id. */
    String nextChargeId() {
        return instance + ".c" + leases.incrementAndGet();
    }

    private final AtomicLong storeFailures = new AtomicLong();
    /** {@code limits.store-timeout} on every answer of the store, without a timer task each. */
    private final StoreDeadlines deadlines;
    /** Requests gone on past this step and not settled or refunded yet (see {@link #awaitSettlements}). */
    final io.github.openaiproxy.core.internal.UnderWay unsettled = new io.github.openaiproxy.core.internal.UnderWay();
    /** Set by the engine's close(): a request reaching this step afterwards is answered 503. */
    volatile boolean closing;

    /** Calls to the store waited for now (see {@link #awaitStoreCalls}). */
    private final io.github.openaiproxy.core.internal.UnderWay storeCalls =
            new io.github.openaiproxy.core.internal.UnderWay();

    LimitStep(
            LimitStore store,
            LimitsConfig config,
            UsageLedger ledger,
            TokenCounter tokens,
            PriceTable prices,
            Tap tap,
            long bodyLimit,
            boolean askDefaultUpstream,
            Clock clock) {
        this.askDefaultUpstream = askDefaultUpstream;
        this.store = store;
        this.config = config;
        this.ledger = ledger;
        this.ledgerOn = ledger != UsageLedger.NONE;
        this.tokens = tokens;
        this.prices = prices;
        this.tap = tap;
        this.bodyLimit = bodyLimit;
        this.clock = clock;
        this.backlog = new LimitBacklog(store, clock::millis, this::nextChargeId, LimitBacklog.CAPACITY);
        this.deadlines = new StoreDeadlines(config.storeTimeout());
    }

    /** What is waiting for the store to answer again, for tests and metrics. */
    LimitBacklog backlog() {
        return backlog;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
        if (closing) {
            return ctx.respond(ProxyError.shuttingDown()); // the limit store and the ledger are closing
        }
        Policy policy = ctx.policy;
        if ((policy == null || !policy.quotas().any()) && !ledgerOn) {
            return next.proceed(ctx); // the hot path: nothing to count, nothing to record
        }
        if (policy == null) {
            policy = Policy.unrestricted(ctx.identity == null ? Policy.ANONYMOUS : ctx.identity.policy());
        }
        Policy p = policy;
        if (ctx.normalized != null) {
            Call call = Call.of(ctx.normalized.upstreamPath());
            return admit(ctx, next, p, call, RequestJson.of(ctx.normalized.body()), false);
        }
        Call call =
                ctx.route != null && ctx.request.method().equals("POST") ? Call.of(ctx.route.template()) : Call.OTHER;
        if (call == Call.OTHER) {
            return admit(ctx, next, p, call, RequestJson.NONE, true); // requests only: the body is never read
        }
        if (ctx.body != null) {
            // The authorize or routing step read it; the routing step parsed it too (unless an alias renamed it).
            RouteUpstream.Target t = ctx.target;
            RequestJson parsed = t != null && t.clientJson() != null && ctx.body == t.clientBytes()
                    ? RequestJson.of(t.clientJson())
                    : RequestJson.of(ctx.body);
            return admit(ctx, next, p, call, parsed, true);
        }
        if (!RequestChecks.hasBody(ctx.request)) {
            return admit(ctx, next, p, call, RequestJson.NONE, true);
        }
        boolean compressed = RequestChecks.isCompressed(ctx.request);
        boolean jsonOnly = jsonOnly(ctx, call);
        if (compressed && jsonOnly && counts(p.quotas(), Kind.TOKENS, Kind.COST)) {
            // A token or money limit cannot be kept on what it cannot read: fails closed, as the body rules do.
            return ctx.refuse(uncountable(), UNCOUNTABLE, p.name());
        }
        if (call == Call.IMAGES && !jsonOnly && counts(p.quotas(), Kind.COST)) {
            // An edit or variation (multipart) names its model in a form field the proxy does not read, and its
            // answer names none: it could not be priced, so a money limit refuses it rather than count it free.
            return ctx.refuse(unpriceable(), UNCOUNTABLE, p.name());
        }
        // A JSON call's body is read whatever its declared type (none, text/plain): the upstream reads it as JSON.
        if (compressed || !(jsonOnly || RequestChecks.isReadableJson(ctx))) {
            return admit(
                    ctx, next, p, call, RequestJson.NONE, true); // multipart or compressed: streamed, settled on usage
        }
        return RouteHandlers.readWhole(ctx, bodyLimit, bytes -> {
            ctx.body = bytes; // sent as read (the pass-through step streams nothing once it is set)
            return admit(ctx, next, p, call, RequestJson.of(bytes), true);
        });
    }

    /**
     * The step of the module routes that {@linkplain io.github.openaiproxy.core.route.CustomRoute#countsAsRequest()
     * count as a request} (session creation): one request on the policy's request-rate counters, nothing else.
     */
    RequestStep countedRoutes() {
        return countedRoutes;
    }

    /** The counted routes' step, named for the pipeline's listing. */
    private final class CountedRoutes implements RequestStep {
        @Override
        public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
            return countRequest(ctx, next);
        }
    }

    /**
     * Reserves one request on each request-rate counter of the caller (and of its key's owner), and no tokens, money
     * or lease: such a route calls no upstream. The request is not given back, however the route answers (its work
     * is done by then), and it leaves no ledger record. Over the limit: the 429 of the other routes, with its
     * headers; an admitted answer carries the {@code x-ratelimit-*} headers too.
     */
    private CompletableFuture<ProxyResponse> countRequest(RequestContext ctx, Chain next) {
        Policy policy = ctx.policy;
        if (policy == null
                || ctx.route == null
                || ctx.route.custom() == null
                || !ctx.route.custom().countsAsRequest()) {
            return next.proceed(ctx);
        }
        List<Spec> specs = counters(policy.quotas()).stream()
                .filter(s -> s.kind() == Kind.REQUESTS)
                .toList();
        if (specs.isEmpty()) {
            return next.proceed(ctx);
        }
        Identity identity = ctx.identity != null ? ctx.identity : Identity.anonymous(null, policy.name());
        long[] ones = new long[specs.size()];
        java.util.Arrays.fill(ones, 1);
        HeldReservation held = new HeldReservation(
                this, ctx, policy, identity, specs, ones, null, null, null, false, clock.millis(), Estimate.NONE);
        return reserve(held)
                .handle((refusal, error) -> {
                    if (error != null) {
                        return countedDown(ctx, next, held, error);
                    }
                    if (refusal != null) {
                        return ctx.refuse(refusal, refusal.code(), policy.name());
                    }
                    backlog.drain();
                    Map<String, String> rate = RateLimitHeaders.of(specs, held.own, held.owner, clock.millis());
                    return next.proceed(ctx).thenApply(r -> rate.isEmpty() ? r : RateLimitHeaders.replace(r, rate));
                })
                .thenCompose(Function.identity());
    }

    /** The store did not answer for a counted route: refused or allowed as rate limits are, counted later. */
    private CompletableFuture<ProxyResponse> countedDown(
            RequestContext ctx, Chain next, HeldReservation held, Throwable error) {
        noteStoreFailure(error);
        if (config.rateLimitsWhenDown() == LimitsConfig.WhenDown.REFUSE) {
            return ctx.respond(LimitRefusals.limitsUnavailable());
        }
        for (Spec s : held.specs) {
            held.chargeLater(s, 1);
        }
        return next.proceed(ctx);
    }

    // ---- before the call -------------------------------------------------------------------------------

    private CompletableFuture<ProxyResponse> admit(
            RequestContext ctx, Chain next, Policy policy, Call call, RequestJson body, boolean passThrough) {
        Identity identity = ctx.identity != null ? ctx.identity : Identity.anonymous(null, policy.name());
        String model = model(ctx, body);
        List<Spec> specs = counters(policy.quotas());
        boolean costBudget = false;
        boolean estimated = false;
        for (Spec s : specs) {
            costBudget |= s.kind() == Kind.COST;
            estimated |= s.kind() == Kind.TOKENS || s.kind() == Kind.COST;
        }
        // Only a token or money limit needs the estimate; without one the upstream judges the body alone.
        Estimate estimate = estimated
                ? UsageEstimate.of(
                        call,
                        body.tree(),
                        model,
                        policy,
                        tokens,
                        config.defaultOutputTokens(),
                        identity.kind().name() + ':' + identity.subject())
                : Estimate.NONE;
        if (estimated && jsonOnly(ctx, call) && (body.unreadable() || (call != Call.OTHER && body.tree() == null))) {
            // Sent on as it is, the upstream would read it (a member named twice: the last one), the limit not;
            // an empty body would reserve nothing at all. A call with no JSON to count (a GET on a JSON route's
            // path: the list of stored chat completions) has no body to refuse.
            return ctx.respond(ProxyError.invalidJson());
        }
        if (estimate.error() != null) {
            return ctx.respond(estimate.error());
        }
        String size = text(body, "size");
        String quality = text(body, "quality");
        long cost = 0;
        if (costBudget && call != Call.OTHER && body.tree() != null) { // parsed already for the estimate
            java.util.OptionalLong priced = price(
                    model,
                    estimate,
                    size,
                    quality,
                    orDefault(policy),
                    reservedTier(body.tree().get("service_tier")));
            if (priced.isEmpty()) {
                // No price, and no default price to charge (unpriced=refuse, or none configured).
                ProxyError unpriced = LimitRefusals.modelNotPriced();
                return ctx.refuse(unpriced, unpriced.code(), policy.name());
            }
            cost = priced.getAsLong();
        }
        long[] amounts = new long[specs.size()];
        for (int i = 0; i < amounts.length; i++) {
            Spec s = specs.get(i);
            amounts[i] = switch (s.kind()) {
                case REQUESTS, LEASE -> 1;
                case TOKENS -> estimate.tokens();
                case COST -> cost;
            };
            if (s.kind() == Kind.TOKENS
                    && !s.budget()
                    && amounts[i] > s.counter().limit()) {
                return ctx.respond(LimitRefusals.neverFits(
                        s, amounts[i], estimate.outputField() != null ? estimate.outputField() : call.inputField));
            }
        }
        // Streams without include_usage are asked for it: the tap takes the extra chunk out again.
        // (Only a stream is parsed for it: the ledger alone reads the rest of a body without a tree.)
        ObjectNode stream = call == Call.CHAT && body.streams() ? body.tree() : null;
        boolean injected = stream != null && askForUsage(ctx, stream, passThrough);
        HeldReservation held = new HeldReservation(
                this, ctx, policy, identity, specs, amounts, model, size, quality, injected, clock.millis(), estimate);
        if (specs.isEmpty()) {
            return proceed(ctx, next, held); // the ledger only
        }
        return reserve(held)
                .handle((refusal, error) -> {
                    if (error != null) {
                        return down(ctx, next, held, error);
                    }
                    if (refusal != null) {
                        return ctx.refuse(refusal, refusal.code(), policy.name());
                    }
                    backlog.drain();
                    Map<String, String> rate = RateLimitHeaders.of(specs, held.own, held.owner, clock.millis());
                    held.rateHeaders = rate.isEmpty() ? null : rate;
                    return proceed(ctx, next, held);
                })
                .thenCompose(Function.identity());
    }

    /**
     * Whether the API takes only a JSON body for this call: the chat, completion, response and embedding calls
     * wherever they are mounted, and the built-in JSON routes (image generation).
     */
    private static boolean jsonOnly(RequestContext ctx, Call call) {
        return call.jsonBody || (ctx.route != null && ctx.route.requiresJson());
    }

    /** Whether a policy has a counter of one of these kinds (tokens and money need the body, money the model). */
    private boolean counts(Policy.Quotas quotas, Kind... kinds) {
        for (Spec s : counters(quotas)) {
            for (Kind k : kinds) {
                if (s.kind() == k) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The code of a refusal for a body a limit cannot count. */
    private static final String UNCOUNTABLE = "uncountable_body";

    /** 400 for a body a token or money limit cannot read (compressed). */
    private static ProxyError uncountable() {
        return ProxyError.badRequest(
                "Bad Request",
                "This caller's policy counts tokens or money; only uncompressed JSON bodies can be counted",
                null);
    }

    /** 400 for an image edit or variation under a money limit: its model, and so its price, cannot be read. */
    private static ProxyError unpriceable() {
        return ProxyError.badRequest(
                "Bad Request",
                "This caller's policy counts money; image edits and variations (multipart) cannot be priced",
                null);
    }

    /** A policy's counters, made again only when the quotas change (they are the same for most requests). */
    private List<Spec> counters(Policy.Quotas quotas) {
        Counters last = lastCounters;
        if (last == null || last.quotas() != quotas) {
            last = new Counters(quotas, List.copyOf(QuotaCounters.of(quotas, config.leaseTimeout())));
            lastCounters = last;
        }
        return last.specs();
    }

    /** The counters of the quotas of the last request admitted. */
    private record Counters(Policy.Quotas quotas, List<Spec> specs) {}

    private volatile Counters lastCounters;

    private static String model(RequestContext ctx, RequestJson body) {
        String m = ctx.model;
        if (m == null) {
            m = body.text("model");
            // Read here, the body is not streamed past the observer's sniff: the request's model is this one.
            ctx.model = m;
        }
        return m == null || m.length() <= MAX_MODEL_NAME ? m : m.substring(0, MAX_MODEL_NAME);
    }

    private static String text(RequestJson body, String field) {
        String v = body.text(field);
        return v != null && v.length() <= 64 ? v : null;
    }

    /** Whether the policy charges a model without a price at {@code limits.default-price}. */
    static boolean orDefault(Policy policy) {
        return policy.quotas().unpriced() == Policy.Unpriced.DEFAULT;
    }

    /**
     * The tier a reservation is priced at: the dearer one a request asks for ({@code priority}, which {@code fast}
     * is, and {@code ultrafast}), so that a budget refuses before the call what it could not pay after; else none
     * (Standard: {@code flex} may be served at Standard, and {@code auto} at whatever the project says).
     */
    static String reservedTier(com.fasterxml.jackson.databind.JsonNode asked) {
        if (asked == null || !asked.isTextual()) {
            return null;
        }
        return switch (asked.textValue()) {
            case "priority", "fast" -> "priority";
            case "ultrafast" -> "ultrafast";
            default -> null;
        };
    }

    private java.util.OptionalLong price(
            String model, Estimate e, String size, String quality, boolean orDefault, String tier) {
        if (model == null) {
            return java.util.OptionalLong.empty();
        }
        try {
            return prices.costNanoUsd(
                    model,
                    new TokenUsage(e.inputTokens(), 0, e.outputTokens(), 0, e.images()),
                    size,
                    quality,
                    orDefault,
                    tier);
        } catch (ArithmeticException overflow) {
            return java.util.OptionalLong.of(Long.MAX_VALUE);
        }
    }

    /** Sets {@code stream_options.include_usage} on a stream that did not ask for usage, in the body sent on. */
    private boolean askForUsage(RequestContext ctx, ObjectNode body, boolean passThrough) {
        JsonNode stream = body.get("stream");
        if (stream == null || !stream.isBoolean() || !stream.booleanValue()) {
            return false;
        }
        RouteUpstream.Target target = ctx.target;
        if (target != null ? !target.mayAskForUsage() : !askDefaultUpstream) {
            // Mistral, or an old Azure api-version, would refuse the request: the usage is read from the stream if
            // it has one unasked (Mistral's last chunk), else estimated.
            return false;
        }
        try {
            if (passThrough && target != null && target.clientJson() != null) {
                // A named upstream sends the client's JSON (renamed per attempt): that is the one to change.
                ObjectNode client = target.clientJson();
                if (!UsageTap.askForUsage(client)) {
                    return false;
                }
                byte[] bytes = Json.bytes(client);
                if (ctx.body != target.clientBytes() && body != client && UsageTap.askForUsage(body)) {
                    ctx.body = Json.bytes(body); // the routing step's rename
                } else if (ctx.body == target.clientBytes()) {
                    ctx.body = bytes;
                }
                ctx.target = new RouteUpstream.Target(
                        target.requests(),
                        target.pool(),
                        target.upstreamModel(),
                        target.clientModel(),
                        bytes,
                        client,
                        true,
                        target.modelInPath());
                return true;
            }
            if (!UsageTap.askForUsage(body)) {
                return false;
            }
            if (passThrough) {
                ctx.body = Json.bytes(body);
            } else {
                ctx.upstreamBody = Json.bytes(body);
            }
            return true;
        } catch (RuntimeException e) {
            return false; // a stream_options the tap cannot read: sent as the client wrote it
        }
    }

    /**
     * Reserves the identity's counters, then the owner's: the refusal to answer, {@code null} when admitted;
     * fails when the store does.
     */
    private CompletableFuture<ProxyError> reserve(HeldReservation held) {
        return reserveIn(held, held.subject).thenCompose(own -> {
            if (!own.admitted()) {
                return CompletableFuture.completedFuture(held.refusal(own, null));
            }
            held.own = own;
            if (held.ownerSubject == null) {
                return CompletableFuture.completedFuture((ProxyError) null);
            }
            return reserveIn(held, held.ownerSubject).handle((owner, error) -> {
                if (error != null) {
                    held.undoOwn(); // the identity's charges go back; the request sees the store down
                    throw new CompletionException(error);
                }
                if (!owner.admitted()) {
                    held.undoOwn();
                    return held.refusal(owner, own);
                }
                held.owner = owner;
                return null;
            });
        });
    }

    /**
     * Reserves {@code who}'s counters, waiting at most {@code limits.store-timeout}; a reservation the store makes
     * after that (the request went on as if the store were down) is given back when it arrives.
     */
    private CompletableFuture<Admission> reserveIn(HeldReservation held, String who) {
        CompletableFuture<Admission> made = store.reserve(held.reservation(who));
        if (made.isDone()) {
            return made; // the memory store: answered already
        }
        CompletableFuture<Admission> waited = timed(made.copy());
        waited.whenComplete((a, e) -> {
            if (e != null && Failures.unwrap(e) instanceof java.util.concurrent.TimeoutException) {
                made.thenAccept(late -> {
                    if (late.admitted()) {
                        held.undo(who, late);
                    }
                });
            }
        });
        return waited;
    }

    /**
     * Waits, at most {@code max}, until every request that went on past this step is settled or refunded (its usage
     * recorded): one that another thread is ending as close() runs (a container's thread ending a stream it timed
     * out when it stopped) records its usage before the ledger closes.
     *
     * @return how many are still not settled after the wait
     */
    int awaitSettlements(java.time.Duration max) {
        return unsettled.awaitNone(max);
    }

    <T> CompletableFuture<T> timed(CompletableFuture<T> f) {
        storeCalls.begin();
        CompletableFuture<T> timed = deadlines.timed(f);
        timed.whenComplete((v, e) -> storeCalls.end());
        return timed;
    }

    /**
     * Waits, at most {@code max}, until no call to the store is waited for: the settlements and returned leases of
     * the requests the engine just ended on closing reach the store before its owner closes it.
     */
    void awaitStoreCalls(java.time.Duration max) {
        storeCalls.awaitNone(max);
    }

    /** The store did not answer: refuse (503) or allow and count later, per kind of limit. */
    private CompletableFuture<ProxyResponse> down(
            RequestContext ctx, Chain next, HeldReservation held, Throwable error) {
        noteStoreFailure(error);
        boolean budgets = false;
        boolean rates = false;
        for (Spec s : held.specs) {
            budgets |= s.budget();
            rates |= !s.budget();
        }
        if ((budgets && config.budgetsWhenDown() == LimitsConfig.WhenDown.REFUSE)
                || (rates && config.rateLimitsWhenDown() == LimitsConfig.WhenDown.REFUSE)) {
            return ctx.respond(LimitRefusals.limitsUnavailable());
        }
        held.own = null;
        held.owner = null;
        held.counted = false; // counted once the store answers again (settled on the real usage)
        return proceed(ctx, next, held);
    }

    /** Logs the store's failures: the first, then one in a thousand. */
    private void noteStoreFailure(Throwable error) {
        long n = storeFailures.incrementAndGet();
        if (n == 1 || n % 1000 == 0) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "limit store ({0}) failed ({1} times so far): {2}",
                    store.kind(),
                    n,
                    Failures.unwrap(error).toString());
        }
    }

    /** Runs the rest of the chain, then settles (or refunds) when the answer ends. */
    private CompletableFuture<ProxyResponse> proceed(RequestContext ctx, Chain next, HeldReservation held) {
        held.awaited(); // from here on it is settled or refunded, which close() waits for
        CompletableFuture<ProxyResponse> answer;
        try {
            answer = next.proceed(ctx);
        } catch (RuntimeException e) {
            held.refund();
            throw e;
        }
        return answer.handle((r, error) -> {
            if (error != null) {
                if (ctx.upstreamCalled) {
                    held.settle(failed(), 500); // the lease goes back with it
                } else {
                    held.refund();
                }
                throw error instanceof CompletionException c ? c : new CompletionException(error);
            }
            if (!ctx.upstreamCalled) {
                held.refund(); // a later step answered: nothing was used
                return r;
            }
            ProxyResponse relayed = held.rateHeaders != null ? RateLimitHeaders.replace(r, held.rateHeaders) : r;
            held.upstream = Objects.requireNonNullElse(
                    HeaderMap.first(r.headers(), RouteUpstream.UPSTREAM_HEADER), Upstreams.DEFAULT);
            // The input counted for the reservation is the input of an estimate (a client gone mid-stream).
            UsageTap.Spec spec =
                    new UsageTap.Spec(held.model, held.injected, ctx.startedAt, tokens, held.estimate.inputTokens());
            ProxyResponse tapped = tap.tap(relayed, spec, m -> held.settle(m, relayed.status()));
            // The tap settles when the body ends, the lease with it; outside the tap, the end of the body gives the
            // lease back should the settlement not have (it runs after the tap's end, see BodyEnds).
            return held.leaseHeld() ? BodyEnds.onEnd(tapped, held::releaseLease) : tapped;
        });
    }

    private static Metered failed() {
        return new Metered(
                TokenUsage.NONE,
                false,
                null,
                null,
                0,
                false,
                UsageRecord.Outcome.UPSTREAM_FAILED,
                -1,
                System.nanoTime());
    }
}
