package io.github.openaiproxy.core;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.QuotaCounters.Kind;
import io.github.openaiproxy.core.QuotaCounters.Spec;
import io.github.openaiproxy.core.UsageEstimate.Estimate;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.limits.Adjustment;
import io.github.openaiproxy.core.limits.Admission;
import io.github.openaiproxy.core.limits.Charge;
import io.github.openaiproxy.core.limits.Counter;
import io.github.openaiproxy.core.limits.Reservation;
import io.github.openaiproxy.core.observe.Usage;
import io.github.openaiproxy.core.upstream.Upstreams;
import io.github.openaiproxy.core.usage.Metered;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One admitted request of the {@link LimitStep}: what it reserved where (the identity's counters, the owner's),
 * until it is settled on the upstream's usage or refunded because it never reached the upstream.
 */
final class HeldReservation {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());

    private final LimitStep step;
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
    /** Names the request's reservations and settlements, so that a store can tell a copy sent again from another. */
    final String id;
    /** The policy's concurrency counter (a policy has at most one), or {@code null} without one. */
    private final Counter leaseCounter;

    volatile Admission own;
    volatile Admission owner;
    /** Whether the reservation was made (false when the store was down and the request allowed). */
    volatile boolean counted = true;

    volatile String upstream = Upstreams.DEFAULT;
    /** The x-ratelimit-* headers of an admitted request; {@code null} without rate limits. */
    Map<String, String> rateHeaders;

    private final AtomicBoolean done = new AtomicBoolean();
    private final AtomicBoolean leaseReleased = new AtomicBoolean();
    /** Whether the step counts this request among the unsettled ones until it is settled or refunded. */
    private final AtomicBoolean awaited = new AtomicBoolean();

    HeldReservation(
            LimitStep step,
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
        this.step = step;
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
        this.subject = policy.name() + "|" + identity.kind().name().toLowerCase(Locale.ROOT) + ":" + identity.subject();
        String o = identity.kind() == Identity.Kind.PROXY_KEY ? identity.owner().orElse(null) : null;
        this.ownerSubject = o == null ? null : policy.name() + "|owner:" + o;
        Counter lease = null;
        for (Spec s : specs) {
            if (s.kind() == Kind.LEASE) {
                lease = s.counter();
            }
        }
        this.leaseCounter = lease;
        this.leaseId = lease != null ? step.nextLeaseId() : null;
        this.id = step.nextRequestId();
    }

    Reservation reservation(String who) {
        Charge[] charges = new Charge[amounts.length];
        for (int i = 0; i < amounts.length; i++) {
            charges[i] = new Charge(specs.get(i).counter(), amounts[i]);
        }
        return new Reservation(who, List.of(charges), leaseId, arrivedMillis, id); // immutable: not copied again
    }

    boolean leaseHeld() {
        return leaseId != null && counted;
    }

    /** The answer a refused reservation gets (the request never proceeds). */
    ProxyError refusal(Admission refused, Admission other) {
        long now = step.clock.millis();
        Spec s = specs.get(refused.refused());
        Map<String, String> headers = new LinkedHashMap<>(RateLimitHeaders.of(specs, refused, other, now));
        return LimitRefusals.over(s, refused.states().get(refused.refused()), amounts[refused.refused()], headers, now);
    }

    /** Gives back the lease now, unless it is given back already (or was never taken). */
    void releaseLease() {
        if (!takeLease()) {
            return;
        }
        release(subject, leaseCounter);
        if (ownerSubject != null && owner != null) {
            release(ownerSubject, leaseCounter);
        }
    }

    /**
     * Whether the lease is still to be given back, and this caller is the one to do it: once true, never again.
     */
    private boolean takeLease() {
        return leaseId != null && leaseReleased.compareAndSet(false, true) && counted;
    }

    private void release(String who, Counter counter) {
        try {
            step.timed(step.store.release(who, counter, leaseId)).whenComplete((v, e) -> {
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
        apply(who, admission, refunds(), leaseId != null);
    }

    /** Every charge given back (a lease is not an amount: it goes back by itself). */
    private long[] refunds() {
        long[] refunds = new long[amounts.length];
        for (int i = 0; i < refunds.length; i++) {
            refunds[i] = specs.get(i).kind() == Kind.LEASE ? 0 : -amounts[i];
        }
        return refunds;
    }

    /** The request goes on past the step: counted as unsettled until it is settled or refunded. */
    void awaited() {
        if (!done.get() && awaited.compareAndSet(false, true)) {
            step.unsettled.begin();
            if (done.get()) {
                ended(); // settled meanwhile, before it was counted
            }
        }
    }

    /** Settled or refunded: no longer counted (after its usage is recorded). */
    private void ended() {
        if (awaited.compareAndSet(true, false)) {
            step.unsettled.end();
        }
    }

    /** The request ended before the upstream call: every charge goes back. */
    void refund() {
        if (!done.compareAndSet(false, true)) {
            return;
        }
        try {
            boolean lease = takeLease(); // given back with the refunds: one call to the store per subject
            if (!counted) {
                return;
            }
            long[] refunds = refunds();
            apply(subject, own, refunds, lease);
            if (ownerSubject != null) {
                apply(ownerSubject, owner, refunds, lease && owner != null);
            }
        } finally {
            ended();
        }
    }

    /**
     * The answer ended: settles the estimate with the real usage, and records it. The lease, when still held, is
     * given back with the settlement (one call to the store per subject): the usage is reported when the body ends
     * (however it ends). {@link #releaseLease} at the body's end stays the net for an answer never settled.
     */
    void settle(Metered m, int proxyStatus) {
        if (!done.compareAndSet(false, true)) {
            return;
        }
        try {
            settleOnce(m, proxyStatus);
        } finally {
            ended();
        }
    }

    private void settleOnce(Metered m, int proxyStatus) {
        boolean clientGone = ctx.inFlight.cancelled();
        if (ctx.upstreamStatus == 0 && (clientGone || ctx.unansweredRequestSent)) {
            // No answer, but the upstream had read the prompt (and bills it): the client left while it worked, or
            // response-timeout ended the wait. Charged the input, estimated: refunding all would make a prompt free
            // when cancelled, or slow, at the right moment.
            m = new Metered(
                    new TokenUsage(estimate.inputTokens(), 0, 0, 0, 0),
                    true,
                    null,
                    null,
                    0,
                    false,
                    clientGone ? UsageRecord.Outcome.CLIENT_GONE : UsageRecord.Outcome.UPSTREAM_FAILED,
                    -1,
                    m.endNanos());
        } else if (unrelayedSuccess(ctx.upstreamStatus, proxyStatus, m)) {
            // The upstream answered 2xx, so it did the work (and bills it), but the proxy could not relay its
            // answer (JSON to a stream, a body broken off): charged the input, estimated, as a client gone before
            // the answer. Refunding would make a call free for every upstream that ignores "stream".
            m = new Metered(
                    new TokenUsage(estimate.inputTokens(), 0, 0, 0, 0),
                    true,
                    null,
                    m.upstreamRequestId(),
                    m.status(),
                    m.streamed(),
                    UsageRecord.Outcome.UPSTREAM_FAILED,
                    -1,
                    m.endNanos());
        }
        if ("GET".equals(ctx.request.method())
                || (ctx.route != null
                        && ctx.route.template().indexOf('{') >= 0 // no regex for the routes that call a model
                        && AuthorizeStep.storedObject(ctx.route.template()))) {
            // A stored response or chat completion read again (a background one polled, or streamed again), or
            // cancelled, or its metadata updated: its usage was made, and charged, by the call that created it.
            m = withUsage(m, TokenUsage.NONE, false);
        } else if (m.pending() && !backgroundRequest()) {
            // Queued, but no background response (a fine-tuning job, a run): an answer without usage, as before.
            long input = Math.max(0, estimate.inputTokens());
            int images = m.usage() == null ? 0 : m.usage().images();
            m = withUsage(m, new TokenUsage(input, 0, 0, 0, images), input > 0);
        }
        TokenUsage usage = m.usage() == null ? TokenUsage.NONE : m.usage();
        String tier = m.serviceTier();
        if (m.pending() && estimate != Estimate.NONE) {
            // A background response: its output is made (and billed) after this answer, and the GET that reads its
            // usage is not metered. Charged what was reserved, so a budget pays for the output it allowed.
            usage = new TokenUsage(estimate.inputTokens(), 0, estimate.outputTokens(), 0, usage.images());
            tier = backgroundTier(tier);
        } else if (m.estimated()
                && m.streamed()
                && m.outcome() == UsageRecord.Outcome.CLIENT_GONE
                && estimate != Estimate.NONE
                && backgroundRequest()) {
            // A background response goes on after its stream's client left, and OpenAI bills it whole: charged what
            // was reserved (what was relayed, if more).
            usage = new TokenUsage(
                    Math.max(usage.inputTokens(), estimate.inputTokens()),
                    0,
                    Math.max(usage.outputTokens(), estimate.outputTokens()),
                    0,
                    usage.images());
            tier = backgroundTier(tier);
        } else if (m.estimated() && usage.inputTokens() == 0 && estimate == Estimate.NONE) {
            usage = withCountedInput(usage);
        }
        long cost = costOf(m.answeringModel(), model, usage, tier);
        // Calls a retry or a fallback followed after they timed out with the prompt sent: each upstream bills it.
        List<UsageRecord> earlier = unansweredRecords(proxyStatus);
        long usedTokens = usage.totalTokens();
        long usedCost = cost;
        for (UsageRecord e : earlier) {
            usedTokens += e.usage().totalTokens();
            usedCost += e.costNanoUsd();
        }
        if (!specs.isEmpty()) {
            long[] deltas = QuotaCounters.settlement(specs, amounts, usedTokens, usedCost);
            if (counted) {
                boolean lease = takeLease();
                apply(subject, own, deltas, lease);
                if (ownerSubject != null) {
                    apply(ownerSubject, owner, deltas, lease && owner != null);
                }
            } else {
                // Allowed while the store was down: the real amounts are counted once it is back.
                for (int i = 0; i < deltas.length; i++) {
                    Spec s = specs.get(i);
                    if (s.kind() != Kind.LEASE) {
                        chargeLater(s, Math.max(0, amounts[i] + deltas[i]));
                    }
                }
            }
        }
        for (UsageRecord e : earlier) {
            keep(e);
        }
        UsageRecord r = record(m, usage, cost, proxyStatus);
        keep(r);
        if (injected && ctx.wantsDetails && m.streamed() && !m.estimated() && m.usage() != null) {
            // The usage chunk the proxy asked for never reaches the client, nor the observer that reads the relayed
            // events (a span's token attributes): the upstream's numbers are reported to it here.
            ctx.observation.usage(new Usage(usage.inputTokens(), usage.outputTokens(), usage.totalTokens()));
        }
    }

    /** Reports a row to the observers, which count tokens and money (the Micrometer metrics), and the ledger. */
    private void keep(UsageRecord r) {
        ctx.observation.metered(r);
        if (step.ledgerOn) {
            try {
                step.ledger.record(r);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "usage ledger refused a record: {0}", e.toString());
            }
        }
    }

    /**
     * A row per call that timed out with the request sent before a retry or a fallback (none on most requests):
     * the estimated input, priced at the model asked of that upstream, with no answer.
     */
    private List<UsageRecord> unansweredRecords(int proxyStatus) {
        List<UnansweredCall> calls = ctx.earlierUnanswered;
        if (calls.isEmpty()) {
            return List.of();
        }
        long input = estimate != Estimate.NONE
                ? estimate.inputTokens()
                : withCountedInput(TokenUsage.NONE).inputTokens();
        TokenUsage usage = new TokenUsage(input, 0, 0, 0, 0);
        List<UsageRecord> rows = new ArrayList<>(calls.size());
        for (UnansweredCall c : calls) {
            long cost = costOf(null, c.model() != null ? c.model() : model, usage);
            rows.add(row(
                    c.upstream(),
                    0,
                    proxyStatus,
                    null,
                    null,
                    usage,
                    cost,
                    true,
                    false,
                    UsageRecord.Outcome.UPSTREAM_FAILED,
                    c.endNanos(),
                    -1));
        }
        return rows;
    }

    /** {@code m} with {@code usage} instead of its own, not pending. */
    private static Metered withUsage(Metered m, TokenUsage usage, boolean estimated) {
        return new Metered(
                usage,
                estimated,
                m.answeringModel(),
                m.upstreamRequestId(),
                m.status(),
                m.streamed(),
                m.outcome(),
                m.firstEventNanos(),
                m.endNanos(),
                m.serviceTier(),
                false);
    }

    /**
     * The tier a background response not yet served is charged at: the one its answer names when that is a priced
     * one, else the one it was reserved at (a queued answer says {@code auto}: the tier it is served on comes later).
     */
    private String backgroundTier(String answered) {
        if ("priority".equals(answered) || "ultrafast".equals(answered) || "flex".equals(answered)) {
            return answered;
        }
        ObjectNode body = sentBody();
        return body == null ? answered : LimitStep.reservedTier(body.get("service_tier"));
    }

    /** Whether the request asked for a background response ({@code "background": true}); read only when needed. */
    private boolean backgroundRequest() {
        ObjectNode body = sentBody();
        return body != null && body.path("background").booleanValue(); // false for anything but true itself
    }

    /**
     * The request's JSON body as sent upstream, parsed again: the parsed trees are let go before the call, and
     * only a settlement that needs the body (rare) reads it; {@code null} when it is not a JSON object.
     */
    private ObjectNode sentBody() {
        return Json.objectOrNull(ctx.upstreamBody != null ? ctx.upstreamBody : ctx.body);
    }

    /** Whether a 2xx upstream answer became the proxy's own error, with no usage read from it. */
    static boolean unrelayedSuccess(int upstreamStatus, int proxyStatus, Metered m) {
        return upstreamStatus >= 200
                && upstreamStatus < 300
                && proxyStatus >= 500
                && !m.estimated()
                && (m.usage() == null || m.usage().totalTokens() == 0);
    }

    /**
     * An estimate's input, counted now: no limit needed it before the call (the ledger alone), and only an answer
     * without usage (a client gone mid-stream) gets here, so the hot path counts nothing.
     */
    private TokenUsage withCountedInput(TokenUsage usage) {
        ObjectNode body = sentBody();
        if (body == null) {
            return usage;
        }
        try {
            return usage.withInputTokens(Math.max(0, step.tokens.inputTokens(model, body)));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "token count failed: {0}", e.toString());
            return usage;
        }
    }

    /** The price of {@code usage} at the model that answered, else (or unpriced) at the model asked for. */
    private long costOf(String answering, String asked, TokenUsage usage) {
        return costOf(answering, asked, usage, null);
    }

    /** As {@link #costOf(String, String, TokenUsage)}, on the service tier the answer names ({@code null}: none). */
    private long costOf(String answering, String asked, TokenUsage usage, String tier) {
        java.util.OptionalLong c = java.util.OptionalLong.empty();
        try {
            if (answering != null) {
                c = step.prices.costNanoUsd(answering, usage, size, quality, false, tier);
            }
            if (c.isEmpty() && asked != null) {
                c = step.prices.costNanoUsd(asked, usage, size, quality, LimitStep.orDefault(policy), tier);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "pricing failed: {0}", e.toString());
        }
        return c.orElse(0);
    }

    private UsageRecord record(Metered m, TokenUsage usage, long cost, int proxyStatus) {
        String answering = m.answeringModel();
        if (answering != null && answering.length() > LimitStep.MAX_MODEL_NAME) {
            answering = answering.substring(0, LimitStep.MAX_MODEL_NAME);
        }
        String requestId = m.upstreamRequestId();
        if (requestId != null && requestId.length() > LimitStep.MAX_MODEL_NAME) {
            requestId = requestId.substring(0, LimitStep.MAX_MODEL_NAME);
        }
        // 0 when the upstream gave no answer (the proxy's 502/504): the call failed, whatever was relayed.
        int upstreamStatus = ctx.upstreamStatus;
        UsageRecord.Outcome outcome = m.outcome() == null ? UsageRecord.Outcome.COMPLETED : m.outcome();
        if (upstreamStatus == 0 && outcome != UsageRecord.Outcome.CLIENT_GONE) {
            outcome = UsageRecord.Outcome.UPSTREAM_FAILED;
        }
        return row(
                upstream,
                upstreamStatus,
                proxyStatus,
                answering,
                requestId,
                usage,
                cost,
                m.estimated(),
                m.streamed(),
                outcome,
                m.endNanos(),
                m.firstEventNanos());
    }

    /** A ledger row of this request's identity, policy, route and model asked for, for one upstream call. */
    private UsageRecord row(
            String upstream,
            int upstreamStatus,
            int proxyStatus,
            String answering,
            String requestId,
            TokenUsage usage,
            long cost,
            boolean estimated,
            boolean streamed,
            UsageRecord.Outcome outcome,
            long endNanos,
            long firstEventNanos) {
        long start = ctx.startedAt;
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
                estimated,
                streamed,
                outcome,
                Math.max(0, (endNanos - start) / 1000),
                firstEventNanos < 0 ? -1 : Math.max(0, (firstEventNanos - start) / 1000),
                requestId);
    }

    /** Charges {@code amount} on {@code spec}'s counter to the caller (and its key's owner) once the store is back. */
    void chargeLater(Spec spec, long amount) {
        step.backlog.charge(subject, new Charge(spec.counter(), amount));
        if (ownerSubject != null) {
            step.backlog.charge(ownerSubject, new Charge(spec.counter(), amount));
        }
    }

    /**
     * Adds {@code deltas} to the windows an admission reserved in, and gives back the lease with them when {@code
     * lease}; the adjustments are kept for later when the store fails (a lease not given back expires). Without
     * an admission (undone already) only the lease is given back.
     */
    private void apply(String who, Admission admission, long[] deltas, boolean lease) {
        Counter leaseCounter = lease ? this.leaseCounter : null;
        List<Adjustment> adjustments = new ArrayList<>(deltas.length);
        if (admission != null) {
            // Named, so that a settlement the store applied but reported failed (its answer lost), and which the
            // backlog applies again once the store answers, counts once.
            for (int i = 0; i < deltas.length; i++) {
                if (deltas[i] != 0) {
                    adjustments.add(new Adjustment(
                            specs.get(i).counter(), admission.states().get(i).windowStartMillis(), deltas[i], id));
                }
            }
        }
        if (adjustments.isEmpty()) {
            if (leaseCounter != null) {
                release(who, leaseCounter);
            }
            return;
        }
        CompletableFuture<Void> made;
        try {
            made = leaseCounter == null
                    ? step.store.adjust(who, adjustments, step.clock.millis())
                    : step.store.settle(who, adjustments, leaseCounter, leaseId, step.clock.millis());
        } catch (RuntimeException e) {
            made = CompletableFuture.failedFuture(e);
        }
        CompletableFuture<Void> store = made;
        // Timed on a copy: a store that answers after the wait may still have applied the adjustment, so it is
        // kept for later only once the store itself says it failed (kept at once, it would count twice).
        step.timed(store.copy()).whenComplete((v, e) -> {
            if (e == null) {
                return;
            }
            if (Failures.unwrap(e) instanceof java.util.concurrent.TimeoutException && !store.isDone()) {
                store.whenComplete((late, failed) -> {
                    if (failed != null) {
                        step.backlog.adjust(who, adjustments);
                    }
                });
            } else if (store.isCompletedExceptionally()) {
                step.backlog.adjust(who, adjustments);
            }
        });
    }
}
