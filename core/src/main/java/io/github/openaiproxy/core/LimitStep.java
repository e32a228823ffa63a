package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.flow.ForwardingSubscriber;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Charge;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.LimitsConfig;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.limits.Window;
import io.github.openaiproxy.core.upstream.Upstreams;
import io.github.openaiproxy.core.usage.Metered;
import io.github.openaiproxy.core.usage.PriceTable;
import io.github.openaiproxy.core.usage.TokenCounter;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.UsageTap;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
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
    /** The longest wait for the store; longer counts as down. */
    static final Duration STORE_TIMEOUT = Duration.ofSeconds(2);
    /** Longer model names are cut in the ledger (and priced as cut: no price has such a name). */
    static final int MAX_MODEL_NAME = 256;

    static final String REQUESTS_PER_MINUTE = "requests-per-minute";
    static final String REQUESTS_PER_HOUR = "requests-per-hour";
    static final String REQUESTS_PER_DAY = "requests-per-day";
    static final String TOKENS_PER_MINUTE = "tokens-per-minute";
    static final String TOKENS_PER_DAY = "tokens-per-day";
    static final String TOKENS_PER_MONTH = "tokens-per-month";
    static final String CONCURRENT_REQUESTS = "concurrent-requests";
    static final String COST_PER_DAY = "cost-per-day";
    static final String COST_PER_MONTH = "cost-per-month";

    private static final BigDecimal NANOS_PER_DOLLAR = BigDecimal.valueOf(1_000_000_000L);

    /** Reads an answer's usage while it is relayed; {@link UsageTap#tap} but in tests. */
    @FunctionalInterface
    interface Tap {
        ProxyResponse tap(ProxyResponse answer, UsageTap.Spec spec, Consumer<Metered> onDone);
    }

    private final LimitStore store;
    private final LimitsConfig config;
    private final UsageLedger ledger;
    private final boolean ledgerOn;
    private final TokenCounter tokens;
    private final PriceTable prices;
    private final Tap tap;
    private final long bodyLimit;
    private final Clock clock;
    private final LimitBacklog backlog;
    /** Lease ids unique across instances sharing a store. */
    private final String instance = UUID.randomUUID().toString();

    private final AtomicLong leases = new AtomicLong();
    private final AtomicLong storeFailures = new AtomicLong();

    LimitStep(
            LimitStore store,
            LimitsConfig config,
            UsageLedger ledger,
            TokenCounter tokens,
            PriceTable prices,
            Tap tap,
            long bodyLimit,
            Clock clock) {
        this.store = store;
        this.config = config;
        this.ledger = ledger;
        this.ledgerOn = ledger != UsageLedger.NONE;
        this.tokens = tokens;
        this.prices = prices;
        this.tap = tap;
        this.bodyLimit = bodyLimit;
        this.clock = clock;
        this.backlog = new LimitBacklog(store, clock::millis, LimitBacklog.CAPACITY);
    }

    /** What is waiting for the store to answer again, for tests and metrics. */
    LimitBacklog backlog() {
        return backlog;
    }

    @Override
    public CompletableFuture<ProxyResponse> handle(RequestContext ctx, Chain next) {
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
            return admit(ctx, next, p, call, ctx.normalized.body(), false);
        }
        Call call =
                ctx.route != null && ctx.request.method().equals("POST") ? Call.of(ctx.route.template()) : Call.OTHER;
        if (call == Call.OTHER) {
            return admit(ctx, next, p, call, null, true); // requests only: the body is never read
        }
        if (ctx.body != null) {
            return admit(ctx, next, p, call, object(ctx.body), true); // the authorize or routing step read it
        }
        if (!RequestChecks.hasBody(ctx.request) || !isJson(ctx.request)) {
            return admit(ctx, next, p, call, null, true); // multipart or compressed: streamed, settled on usage
        }
        return RouteHandlers.readWhole(ctx, bodyLimit, bytes -> {
            ctx.body = bytes; // sent as read (the pass-through step streams nothing once it is set)
            return admit(ctx, next, p, call, object(bytes), true);
        });
    }

    /** What the request calls, by its upstream path: what its estimate reads. */
    enum Call {
        CHAT("messages"),
        COMPLETIONS("prompt"),
        RESPONSES("input"),
        EMBEDDINGS("input"),
        IMAGES("prompt"),
        OTHER(null);

        /** The field that holds most of the input, named when an estimate can never fit. */
        final String inputField;

        Call(String inputField) {
            this.inputField = inputField;
        }

        static Call of(String path) {
            return switch (path) {
                case "/v1/chat/completions" -> CHAT;
                case "/v1/completions" -> COMPLETIONS;
                case "/v1/responses" -> RESPONSES;
                case "/v1/embeddings" -> EMBEDDINGS;
                case "/v1/images/generations", "/v1/images/edits", "/v1/images/variations" -> IMAGES;
                default -> OTHER;
            };
        }
    }

    private static ObjectNode object(byte[] bytes) {
        if (bytes == null || bytes.length == 0) {
            return null;
        }
        try {
            return Json.parse(bytes) instanceof ObjectNode o ? o : null;
        } catch (IOException | RuntimeException e) {
            return null; // not JSON: the upstream judges it; estimated as empty, settled on its answer
        }
    }

    private static boolean isJson(io.github.openaiproxy.core.http.ProxyRequest request) {
        String type = request.headers().firstValue("content-type").orElse("");
        String encoding = request.headers().firstValue("content-encoding").orElse("identity");
        return type.toLowerCase(Locale.ROOT).contains("json")
                && encoding.strip().equalsIgnoreCase("identity");
    }

    // ---- before the call -------------------------------------------------------------------------------

    /** The estimate of one request, or the 400 its body gets. */
    record Estimate(long inputTokens, long outputTokens, int images, String outputField, ProxyError error) {
        long tokens() {
            return saturatedAdd(inputTokens, outputTokens);
        }

        /** No estimate: no limit needs one. */
        static final Estimate NONE = new Estimate(0, 0, 0, null, null);

        static Estimate refused(ProxyError error) {
            return new Estimate(0, 0, 0, null, error);
        }
    }

    /**
     * The request's estimate: input tokens by the model's tokenizer, plus the output cap it names (times
     * {@code n}), else the policy's {@code max-tokens}, else {@code limits.default-output-tokens}; images: {@code
     * n}. A cap that is no whole number, or is negative, is a 400; a huge one saturates (and then fits no
     * limit).
     */
    Estimate estimate(Call call, ObjectNode body, String model, Policy policy) {
        if (call == Call.OTHER) {
            return new Estimate(0, 0, 0, null, null);
        }
        long input = 0;
        if (body != null) {
            try {
                input = Math.max(0, tokens.inputTokens(model, body));
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "token count failed: {0}", e.toString());
            }
        }
        String[] fields = switch (call) {
            case CHAT -> new String[] {"max_completion_tokens", "max_tokens"};
            case COMPLETIONS -> new String[] {"max_tokens"};
            case RESPONSES -> new String[] {"max_output_tokens"};
            default -> new String[0];
        };
        long output = -1;
        String named = null;
        for (String f : fields) {
            JsonNode v = body == null ? null : body.get(f);
            if (v == null || v.isNull()) {
                continue;
            }
            long n = wholeNumber(v);
            if (n < 0) {
                return Estimate.refused(
                        ProxyError.badRequest("Invalid request", f + " must be a whole number, zero or more", f));
            }
            output = n;
            named = f;
            break;
        }
        if (fields.length > 0 && output < 0) {
            output = policy.maxTokens() != null ? policy.maxTokens() : config.defaultOutputTokens();
        }
        output = Math.max(0, output);
        int images = 0;
        long n = count(body, "n");
        if (call == Call.CHAT || call == Call.COMPLETIONS) {
            output = saturatedMultiply(output, n);
        } else if (call == Call.IMAGES) {
            images = (int) Math.min(n, Integer.MAX_VALUE);
        }
        return new Estimate(input, output, images, named, null);
    }

    /** A whole number's value (saturated at {@link Long#MAX_VALUE}); -1 for anything else or a negative one. */
    private static long wholeNumber(JsonNode v) {
        if (v.isNumber() && Double.isInfinite(v.doubleValue()) && !v.isIntegralNumber() && !v.isBigDecimal()) {
            return v.doubleValue() > 0 ? Long.MAX_VALUE : -1; // 1e400 read as a double
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && v.doubleValue() == Math.rint(v.doubleValue()))) {
            return -1;
        }
        BigInteger b =
                v.isIntegralNumber() ? v.bigIntegerValue() : v.decimalValue().toBigInteger();
        if (b.signum() < 0) {
            return -1;
        }
        return b.bitLength() < 64 ? b.longValue() : Long.MAX_VALUE;
    }

    /** {@code n} (choices or images), 1 when absent or not a positive whole number (the upstream judges it). */
    private static long count(ObjectNode body, String field) {
        JsonNode v = body == null ? null : body.get(field);
        long n = v == null ? -1 : wholeNumber(v);
        return n < 1 ? 1 : n;
    }

    /** One counter of a policy, what it counts and whether it is a budget (a calendar period). */
    record Spec(Counter counter, Kind kind, boolean budget) {}

    /** What a counter counts. */
    enum Kind {
        REQUESTS,
        TOKENS,
        COST,
        LEASE
    }

    /** The policy's counters, in a fixed order. */
    List<Spec> specs(Policy.Quotas q) {
        List<Spec> specs = new ArrayList<>(9);
        rolling(specs, REQUESTS_PER_MINUTE, q.requestsPerMinute(), Duration.ofMinutes(1), Kind.REQUESTS);
        rolling(specs, REQUESTS_PER_HOUR, q.requestsPerHour(), Duration.ofHours(1), Kind.REQUESTS);
        rolling(specs, REQUESTS_PER_DAY, q.requestsPerDay(), Duration.ofDays(1), Kind.REQUESTS);
        rolling(specs, TOKENS_PER_MINUTE, q.tokensPerMinute(), Duration.ofMinutes(1), Kind.TOKENS);
        rolling(specs, TOKENS_PER_DAY, q.tokensPerDay(), Duration.ofDays(1), Kind.TOKENS);
        if (q.tokensPerMonth() != null) {
            specs.add(new Spec(
                    new Counter(TOKENS_PER_MONTH, q.tokensPerMonth(), new Window.Calendar(Window.Period.MONTH)),
                    Kind.TOKENS,
                    true));
        }
        if (q.concurrentRequests() != null) {
            specs.add(new Spec(
                    new Counter(CONCURRENT_REQUESTS, q.concurrentRequests(), new Window.Lease(config.leaseTimeout())),
                    Kind.LEASE,
                    false));
        }
        if (q.costPerDay() != null) {
            specs.add(new Spec(
                    new Counter(COST_PER_DAY, nanoUsd(q.costPerDay()), new Window.Calendar(Window.Period.DAY)),
                    Kind.COST,
                    true));
        }
        if (q.costPerMonth() != null) {
            specs.add(new Spec(
                    new Counter(COST_PER_MONTH, nanoUsd(q.costPerMonth()), new Window.Calendar(Window.Period.MONTH)),
                    Kind.COST,
                    true));
        }
        return specs;
    }

    private static void rolling(List<Spec> specs, String name, Long limit, Duration length, Kind kind) {
        if (limit != null) {
            specs.add(new Spec(new Counter(name, limit, new Window.Rolling(length)), kind, false));
        }
    }

    /** Dollars in nano-dollars, saturated. */
    static long nanoUsd(BigDecimal dollars) {
        BigDecimal n = dollars.multiply(NANOS_PER_DOLLAR);
        return n.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) >= 0
                ? Long.MAX_VALUE
                : n.setScale(0, java.math.RoundingMode.DOWN).longValueExact();
    }

    private CompletableFuture<ProxyResponse> admit(
            RequestContext ctx, Chain next, Policy policy, Call call, ObjectNode body, boolean passThrough) {
        Identity identity = ctx.identity != null ? ctx.identity : Identity.anonymous(null, policy.name());
        String model = model(ctx, body);
        List<Spec> specs = specs(policy.quotas());
        boolean costBudget = false;
        boolean estimated = false;
        for (Spec s : specs) {
            costBudget |= s.kind() == Kind.COST;
            estimated |= s.kind() == Kind.TOKENS || s.kind() == Kind.COST;
        }
        // Only a token or money limit needs the estimate; without one the upstream judges the body alone.
        Estimate estimate = estimated ? estimate(call, body, model, policy) : Estimate.NONE;
        if (estimate.error() != null) {
            return ctx.respond(estimate.error());
        }
        String size = text(body, "size");
        String quality = text(body, "quality");
        long cost = 0;
        if (costBudget && call != Call.OTHER && body != null) {
            java.util.OptionalLong priced = price(model, estimate, size, quality, orDefault(policy));
            if (priced.isEmpty()) {
                // No price, and no default price to charge (unpriced=refuse, or none configured).
                ProxyError unpriced = modelNotPriced();
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
                return ctx.respond(neverFits(
                        s, amounts[i], estimate.outputField() != null ? estimate.outputField() : call.inputField));
            }
        }
        // Streams without include_usage are asked for it: the tap takes the extra chunk out again.
        boolean injected = body != null && call == Call.CHAT && askForUsage(ctx, body, passThrough);
        Held held = new Held(
                ctx, policy, identity, specs, amounts, model, size, quality, injected, clock.millis(), estimate);
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
                    Map<String, String> rate = headers(specs, held.own, held.owner, clock.millis());
                    held.rateHeaders = rate.isEmpty() ? null : rate;
                    return proceed(ctx, next, held);
                })
                .thenCompose(Function.identity());
    }

    private static String model(RequestContext ctx, ObjectNode body) {
        String m = ctx.model;
        if (m == null && body != null) {
            JsonNode v = body.get("model");
            m = v != null && v.isTextual() ? v.textValue() : null;
        }
        return m == null || m.length() <= MAX_MODEL_NAME ? m : m.substring(0, MAX_MODEL_NAME);
    }

    private static String text(ObjectNode body, String field) {
        JsonNode v = body == null ? null : body.get(field);
        return v != null && v.isTextual() && v.textValue().length() <= 64 ? v.textValue() : null;
    }

    /** Whether the policy charges a model without a price at {@code limits.default-price}. */
    private static boolean orDefault(Policy policy) {
        return policy.quotas().unpriced() == Policy.Unpriced.DEFAULT;
    }

    private java.util.OptionalLong price(String model, Estimate e, String size, String quality, boolean orDefault) {
        if (model == null) {
            return java.util.OptionalLong.empty();
        }
        try {
            return prices.costNanoUsd(
                    model,
                    new TokenUsage(e.inputTokens(), 0, e.outputTokens(), 0, e.images()),
                    size,
                    quality,
                    orDefault);
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
        try {
            RouteUpstream.Target target = ctx.target;
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
                        target.requests(), target.pool(), target.upstreamModel(), target.clientModel(), bytes, client);
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
    private CompletableFuture<ProxyError> reserve(Held held) {
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
     * Reserves {@code who}'s counters, waiting at most {@link #STORE_TIMEOUT}; a reservation the store makes
     * after that (the request went on as if the store were down) is given back when it arrives.
     */
    private CompletableFuture<Admission> reserveIn(Held held, String who) {
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

    private <T> CompletableFuture<T> timed(CompletableFuture<T> f) {
        return f.orTimeout(STORE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The store did not answer: refuse (503) or allow and count later, per kind of limit. */
    private CompletableFuture<ProxyResponse> down(RequestContext ctx, Chain next, Held held, Throwable error) {
        long n = storeFailures.incrementAndGet();
        if (n == 1 || n % 1000 == 0) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "limit store ({0}) failed ({1} times so far): {2}",
                    store.kind(),
                    n,
                    Failures.unwrap(error).toString());
        }
        boolean budgets = false;
        boolean rates = false;
        for (Spec s : held.specs) {
            budgets |= s.budget();
            rates |= !s.budget();
        }
        if ((budgets && config.budgetsWhenDown() == LimitsConfig.WhenDown.REFUSE)
                || (rates && config.rateLimitsWhenDown() == LimitsConfig.WhenDown.REFUSE)) {
            return ctx.respond(limitsUnavailable());
        }
        held.own = null;
        held.owner = null;
        held.counted = false; // counted once the store answers again (settled on the real usage)
        return proceed(ctx, next, held);
    }

    /** Runs the rest of the chain, then settles (or refunds) when the answer ends. */
    private CompletableFuture<ProxyResponse> proceed(RequestContext ctx, Chain next, Held held) {
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
                    held.releaseLease();
                    held.settle(failed(ctx.request.method()), 500);
                } else {
                    held.refund();
                }
                throw error instanceof CompletionException c ? c : new CompletionException(error);
            }
            if (!ctx.upstreamCalled) {
                held.refund(); // a later step answered: nothing was used
                return r;
            }
            ProxyResponse out = held.rateHeaders != null ? withRateHeaders(r, held.rateHeaders) : r;
            if (held.leaseHeld()) {
                out = onEnd(out, held::releaseLease);
            }
            ProxyResponse relayed = out;
            held.upstream =
                    r.headers().firstValue(RouteUpstream.UPSTREAM_HEADER).orElse(Upstreams.DEFAULT);
            // The input counted for the reservation is the input of an estimate (a client gone mid-stream).
            UsageTap.Spec spec =
                    new UsageTap.Spec(held.model, held.injected, ctx.startedAt, tokens, held.estimate.inputTokens());
            return tap.tap(relayed, spec, m -> held.settle(m, relayed.status()));
        });
    }

    private static Metered failed(String method) {
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

    /** One admitted request: what it reserved where, until it is settled or refunded. */
    final class Held {
        final RequestContext ctx;
        final Policy policy;
        final Identity identity;
        final List<Spec> specs;
        final long[] amounts;
        final String model;
        final String size;
        final String quality;
        final boolean injected;
        final long arrivedMillis;
        final Estimate estimate;
        final String subject;
        final String ownerSubject;
        final String leaseId;
        volatile Admission own;
        volatile Admission owner;
        /** Whether the reservation was made (false when the store was down and the request allowed). */
        volatile boolean counted = true;

        volatile String upstream = Upstreams.DEFAULT;
        /** The x-ratelimit-* headers of an admitted request; {@code null} without rate limits. */
        Map<String, String> rateHeaders;

        private final AtomicBoolean done = new AtomicBoolean();
        private final AtomicBoolean leaseReleased = new AtomicBoolean();

        Held(
                RequestContext ctx,
                Policy policy,
                Identity identity,
                List<Spec> specs,
                long[] amounts,
                String model,
                String size,
                String quality,
                boolean injected,
                long arrivedMillis,
                Estimate estimate) {
            this.ctx = ctx;
            this.policy = policy;
            this.identity = identity;
            this.specs = specs;
            this.amounts = amounts;
            this.model = model;
            this.size = size;
            this.quality = quality;
            this.injected = injected;
            this.arrivedMillis = arrivedMillis;
            this.estimate = estimate;
            this.subject =
                    policy.name() + "|" + identity.kind().name().toLowerCase(Locale.ROOT) + ":" + identity.subject();
            String o = identity.kind() == Identity.Kind.PROXY_KEY
                    ? identity.owner().orElse(null)
                    : null;
            this.ownerSubject = o == null ? null : policy.name() + "|owner:" + o;
            boolean lease = false;
            for (Spec s : specs) {
                lease |= s.kind() == Kind.LEASE;
            }
            this.leaseId = lease ? instance + ":" + leases.incrementAndGet() : null;
        }

        Reservation reservation(String who) {
            List<Charge> charges = new ArrayList<>(specs.size());
            for (int i = 0; i < amounts.length; i++) {
                charges.add(new Charge(specs.get(i).counter(), amounts[i]));
            }
            return new Reservation(who, charges, leaseId, arrivedMillis);
        }

        boolean leaseHeld() {
            return leaseId != null && counted;
        }

        /** The answer a refused reservation gets; also sets nothing (the request never proceeds). */
        ProxyError refusal(Admission refused, Admission other) {
            long now = clock.millis();
            Spec s = specs.get(refused.refused());
            Admission.CounterState state = refused.states().get(refused.refused());
            Map<String, String> headers = new LinkedHashMap<>(headers(specs, refused, other, now));
            if (s.budget()) {
                headers.put("x-should-retry", "false");
                return new ProxyError(
                        429,
                        "Quota exceeded",
                        "This caller's " + s.counter().name() + " budget is used up until "
                                + Instant.ofEpochMilli(state.resetAtMillis()) + " (UTC)",
                        "insufficient_quota",
                        "insufficient_quota",
                        null,
                        null,
                        headers);
            }
            long wait = s.kind() == Kind.LEASE ? 1000 : Math.max(1000, state.resetAtMillis() - now);
            headers.put("Retry-After", Long.toString((wait + 999) / 1000));
            String type = s.kind() == Kind.TOKENS ? "tokens" : "requests";
            String message = s.kind() == Kind.LEASE
                    ? "Too many requests in flight for this caller: the limit is "
                            + s.counter().limit()
                    : "Rate limit reached for " + s.counter().name() + ": limit "
                            + s.counter().limit()
                            + ", used " + state.used() + ", requested " + amountOf(s)
                            + ". Please try again in " + openAiDuration(wait) + ".";
            return new ProxyError(429, "Too Many Requests", message, type, "rate_limit_exceeded", null, null, headers);
        }

        private long amountOf(Spec s) {
            return amounts[specs.indexOf(s)];
        }

        void releaseLease() {
            if (leaseId == null || !leaseReleased.compareAndSet(false, true) || !counted) {
                return;
            }
            for (Spec s : specs) {
                if (s.kind() == Kind.LEASE) {
                    release(subject, s.counter());
                    if (ownerSubject != null && owner != null) {
                        release(ownerSubject, s.counter());
                    }
                }
            }
        }

        private void release(String who, Counter counter) {
            try {
                timed(store.release(who, counter, leaseId)).whenComplete((v, e) -> {
                    if (e != null) {
                        LOG.log(
                                System.Logger.Level.DEBUG,
                                "lease not given back (it expires): {0}",
                                Failures.unwrap(e).toString());
                    }
                });
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "lease not given back (it expires): {0}", e.toString());
            }
        }

        /** Gives back the identity's charges when the owner's could not be made. */
        void undoOwn() {
            undo(subject, own);
            own = null;
        }

        /** Gives back what {@code admission} reserved for {@code who}, its lease included. */
        void undo(String who, Admission admission) {
            long[] refunds = new long[amounts.length];
            for (int i = 0; i < refunds.length; i++) {
                Spec s = specs.get(i);
                refunds[i] = s.kind() == Kind.LEASE ? 0 : -amounts[i];
                if (s.kind() == Kind.LEASE && leaseId != null) {
                    release(who, s.counter());
                }
            }
            apply(who, admission, refunds);
        }

        /** The request ended before the upstream call: every charge goes back. */
        void refund() {
            if (!done.compareAndSet(false, true)) {
                return;
            }
            releaseLease();
            if (!counted) {
                return;
            }
            long[] refunds = new long[amounts.length];
            for (int i = 0; i < refunds.length; i++) {
                refunds[i] = specs.get(i).kind() == Kind.LEASE ? 0 : -amounts[i];
            }
            apply(subject, own, refunds);
            if (ownerSubject != null) {
                apply(ownerSubject, owner, refunds);
            }
        }

        /**
         * The answer ended: settles the estimate with the real usage, and records it. The lease is the body's to
         * give back when it ends (see {@link #onEnd}), whoever reports the usage first.
         */
        void settle(Metered m, int proxyStatus) {
            if (!done.compareAndSet(false, true)) {
                return;
            }
            TokenUsage usage = m.usage() == null ? TokenUsage.NONE : m.usage();
            if (m.estimated() && usage.inputTokens() == 0 && estimate == Estimate.NONE) {
                usage = withCountedInput(usage);
            }
            long cost = costOf(m, usage);
            if (!specs.isEmpty()) {
                long[] deltas = settlement(specs, amounts, usage.totalTokens(), cost);
                if (counted) {
                    apply(subject, own, deltas);
                    if (ownerSubject != null) {
                        apply(ownerSubject, owner, deltas);
                    }
                } else {
                    // Allowed while the store was down: the real amounts are counted once it is back.
                    for (int i = 0; i < deltas.length; i++) {
                        Spec s = specs.get(i);
                        if (s.kind() != Kind.LEASE) {
                            long used = amounts[i] + deltas[i];
                            backlog.charge(subject, new Charge(s.counter(), Math.max(0, used)));
                            if (ownerSubject != null) {
                                backlog.charge(ownerSubject, new Charge(s.counter(), Math.max(0, used)));
                            }
                        }
                    }
                }
            }
            UsageRecord r = record(m, usage, cost, proxyStatus);
            // Observers count tokens and money (the Micrometer metrics) from the same row the ledger keeps.
            ctx.observation.metered(r);
            if (ledgerOn) {
                try {
                    ledger.record(r);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "usage ledger refused a record: {0}", e.toString());
                }
            }
        }

        /**
         * An estimate's input, counted now: no limit needed it before the call (the ledger alone), and only an
         * answer without usage (a client gone mid-stream) gets here, so the hot path counts nothing.
         */
        private TokenUsage withCountedInput(TokenUsage usage) {
            ObjectNode body = object(ctx.upstreamBody != null ? ctx.upstreamBody : ctx.body);
            if (body == null) {
                return usage;
            }
            try {
                return new TokenUsage(
                        Math.max(0, tokens.inputTokens(model, body)),
                        usage.cachedInputTokens(),
                        usage.outputTokens(),
                        usage.reasoningTokens(),
                        usage.images());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "token count failed: {0}", e.toString());
                return usage;
            }
        }

        private long costOf(Metered m, TokenUsage usage) {
            String answering = m.answeringModel();
            java.util.OptionalLong c = java.util.OptionalLong.empty();
            try {
                if (answering != null) {
                    c = prices.costNanoUsd(answering, usage, size, quality);
                }
                if (c.isEmpty() && model != null) {
                    c = prices.costNanoUsd(model, usage, size, quality, orDefault(policy));
                }
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "pricing failed: {0}", e.toString());
            }
            return c.orElse(0);
        }

        private UsageRecord record(Metered m, TokenUsage usage, long cost, int proxyStatus) {
            long start = ctx.startedAt;
            long end = m.endNanos();
            String answering = m.answeringModel();
            if (answering != null && answering.length() > MAX_MODEL_NAME) {
                answering = answering.substring(0, MAX_MODEL_NAME);
            }
            String requestId = m.upstreamRequestId();
            if (requestId != null && requestId.length() > MAX_MODEL_NAME) {
                requestId = requestId.substring(0, MAX_MODEL_NAME);
            }
            // 0 when the upstream gave no answer (the proxy's 502/504): the call failed, whatever was relayed.
            int upstreamStatus = ctx.upstreamStatus;
            UsageRecord.Outcome outcome = m.outcome() == null ? UsageRecord.Outcome.COMPLETED : m.outcome();
            if (upstreamStatus == 0) {
                outcome = UsageRecord.Outcome.UPSTREAM_FAILED;
            }
            return new UsageRecord(
                    Instant.ofEpochMilli(arrivedMillis),
                    identity.kind().name(),
                    identity.subject(),
                    identity.kind() == Identity.Kind.PROXY_KEY ? identity.subject() : null,
                    identity.owner().orElse(null),
                    policy.name(),
                    ctx.route(),
                    model,
                    answering,
                    upstream,
                    upstreamStatus,
                    proxyStatus,
                    usage,
                    cost,
                    m.estimated(),
                    m.streamed(),
                    outcome,
                    Math.max(0, (end - start) / 1000),
                    m.firstEventNanos() < 0 ? -1 : Math.max(0, (m.firstEventNanos() - start) / 1000),
                    requestId);
        }

        /** Adds {@code deltas} to the windows an admission reserved in; kept for later when the store fails. */
        private void apply(String who, Admission admission, long[] deltas) {
            if (admission == null) {
                return;
            }
            List<Adjustment> adjustments = new ArrayList<>(deltas.length);
            for (int i = 0; i < deltas.length; i++) {
                if (deltas[i] != 0) {
                    adjustments.add(new Adjustment(
                            specs.get(i).counter(), admission.states().get(i).windowStartMillis(), deltas[i]));
                }
            }
            if (adjustments.isEmpty()) {
                return;
            }
            CompletableFuture<Void> f;
            try {
                f = timed(store.adjust(who, adjustments, clock.millis()));
            } catch (RuntimeException e) {
                f = CompletableFuture.failedFuture(e);
            }
            f.whenComplete((v, e) -> {
                if (e != null) {
                    adjustments.forEach(a -> backlog.adjust(who, a));
                }
            });
        }
    }

    /**
     * What settling a reservation adds to each counter: requests and leases stay as they are; tokens and money
     * move from the estimate to what was used (negative: a refund).
     */
    static long[] settlement(List<Spec> specs, long[] reserved, long usedTokens, long usedCost) {
        long[] deltas = new long[reserved.length];
        for (int i = 0; i < deltas.length; i++) {
            deltas[i] = switch (specs.get(i).kind()) {
                case TOKENS -> usedTokens - reserved[i];
                case COST -> usedCost - reserved[i];
                case REQUESTS, LEASE -> 0;
            };
        }
        return deltas;
    }

    // ---- headers -------------------------------------------------------------------------------------

    /**
     * OpenAI's {@code x-ratelimit-*} headers for the tightest requests and tokens rate limits (the least
     * remaining, of the identity's and the owner's); none for a kind the policy does not limit.
     */
    static Map<String, String> headers(List<Spec> specs, Admission a, Admission b, long now) {
        Map<String, String> h = new LinkedHashMap<>();
        tightest(h, "requests", Kind.REQUESTS, specs, a, b, now);
        tightest(h, "tokens", Kind.TOKENS, specs, a, b, now);
        return h;
    }

    private static void tightest(
            Map<String, String> h, String name, Kind kind, List<Spec> specs, Admission a, Admission b, long now) {
        long bestRemaining = Long.MAX_VALUE;
        long limit = -1;
        long reset = 0;
        for (Admission adm : new Admission[] {a, b}) {
            if (adm == null) {
                continue;
            }
            for (int i = 0; i < specs.size(); i++) {
                Spec s = specs.get(i);
                if (s.kind() != kind || s.budget()) {
                    continue;
                }
                Admission.CounterState st = adm.states().get(i);
                long remaining = Math.max(0, s.counter().limit() - st.used());
                if (remaining < bestRemaining) {
                    bestRemaining = remaining;
                    limit = s.counter().limit();
                    reset = Math.max(0, st.resetAtMillis() - now);
                }
            }
        }
        if (limit >= 0) {
            h.put("x-ratelimit-limit-" + name, Long.toString(limit));
            h.put("x-ratelimit-remaining-" + name, Long.toString(bestRemaining));
            h.put("x-ratelimit-reset-" + name, openAiDuration(reset));
        }
    }

    /** A duration as OpenAI writes it in {@code x-ratelimit-reset-*}: {@code 20ms}, {@code 1s}, {@code 6m0s}, {@code 1h2m3s}. */
    static String openAiDuration(long millis) {
        if (millis < 1000) {
            return Math.max(0, millis) + "ms";
        }
        long s = (millis + 999) / 1000;
        long h = s / 3600;
        long m = (s % 3600) / 60;
        long sec = s % 60;
        if (h > 0) {
            return h + "h" + m + "m" + sec + "s";
        }
        return m > 0 ? m + "m" + sec + "s" : sec + "s";
    }

    /** The answer with the caller's rate-limit headers instead of any the upstream sent. */
    static ProxyResponse withRateHeaders(ProxyResponse r, Map<String, String> rate) {
        Map<String, List<String>> map = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        r.headers().map().forEach((k, v) -> {
            if (!k.regionMatches(true, 0, "x-ratelimit-", 0, 12)) {
                map.put(k, v);
            }
        });
        rate.forEach((k, v) -> map.put(k, List.of(v)));
        return new ProxyResponse(r.status(), HttpHeaders.of(map, (n, v) -> true), r.body(), r.streaming());
    }

    // ---- errors --------------------------------------------------------------------------------------

    static ProxyError neverFits(Spec s, long amount, String param) {
        return new ProxyError(
                400,
                "Request too large",
                "This request's estimate of " + amount + " tokens is over this caller's "
                        + s.counter().name()
                        + " limit of " + s.counter().limit() + ": it can never fit"
                        + (param == null ? "" : "; lower " + param),
                "invalid_request_error",
                "request_too_large",
                param,
                null,
                Map.of());
    }

    static ProxyError modelNotPriced() {
        return new ProxyError(
                403,
                "Forbidden",
                "This caller has a cost budget and the requested model has no price",
                "permission_error",
                "model_not_priced",
                "model",
                null,
                Map.of());
    }

    static ProxyError limitsUnavailable() {
        return new ProxyError(
                503,
                "Service Unavailable",
                "This caller's limits could not be checked; retry shortly",
                "server_error",
                "limits_unavailable",
                null,
                null,
                Map.of("Retry-After", "1"));
    }

    // ---- arithmetic and bodies --------------------------------------------------------------------------

    static long saturatedAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }

    static long saturatedMultiply(long a, long b) {
        long hi = Math.multiplyHigh(a, b);
        long lo = a * b;
        return (hi == 0 && lo >= 0) ? lo : Long.MAX_VALUE;
    }

    /** The answer with a body that runs {@code onEnd} once, however it ends (or is discarded). */
    static ProxyResponse onEnd(ProxyResponse r, Runnable onEnd) {
        Flow.Publisher<List<ByteBuffer>> body = r.body();
        AtomicBoolean ran = new AtomicBoolean();
        Runnable once = () -> {
            if (ran.compareAndSet(false, true)) {
                onEnd.run();
            }
        };
        Flow.Publisher<List<ByteBuffer>> ending = subscriber -> {
            java.util.Objects.requireNonNull(subscriber, "subscriber");
            body.subscribe(new ForwardingSubscriber<List<ByteBuffer>>(subscriber) {
                @Override
                public void cancel() {
                    once.run();
                    super.cancel();
                }

                @Override
                public void onError(Throwable t) {
                    once.run();
                    super.onError(t);
                }

                @Override
                public void onComplete() {
                    once.run();
                    super.onComplete();
                }
            });
        };
        return new ProxyResponse(r.status(), r.headers(), ending, r.streaming());
    }
}
