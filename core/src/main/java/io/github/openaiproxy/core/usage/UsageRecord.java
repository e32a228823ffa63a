package io.github.openaiproxy.core.usage;

import java.time.Instant;
import java.util.Objects;

/**
 * One row of the usage ledger: one request that reached the upstream, or one call of it to a named upstream that
 * timed out with the request sent before a retry or a fallback (that upstream bills it). Never holds a key, only a
 * key's id.
 *
 * @param at when the request arrived
 * @param identityKind {@code PROXY_KEY}, {@code USER}, {@code TOKEN} or {@code ANONYMOUS}
 * @param identityId the key's id, the user's name, the token's subject or the anonymous caller's address
 * @param keyId the proxy key's id, {@code null} for other identities
 * @param owner the key's owner or the user; {@code null} when none
 * @param policy the policy the request ran under
 * @param route the route's template, for example {@code /v1/chat/completions}
 * @param requestedModel the model the client asked for; {@code null} when none
 * @param answeringModel the model the upstream says answered; {@code null} when it said none
 * @param upstream the upstream's configured name
 * @param upstreamStatus the upstream's status; {@code 0} when it gave none
 * @param proxyStatus the status the client got
 * @param usage tokens and images
 * @param costNanoUsd the cost in nano-dollars (10^-9 USD)
 * @param estimated whether the usage (and cost) is the proxy's estimate rather than the upstream's numbers
 * @param streamed whether the answer was an event stream
 * @param outcome how it ended
 * @param durationMicros from arrival to the last byte
 * @param firstEventMicros from arrival to the first event of a stream; {@code -1} when none
 * @param upstreamRequestId the upstream's {@code x-request-id}; {@code null} when none
 */
public record UsageRecord(
        Instant at,
        String identityKind,
        String identityId,
        String keyId,
        String owner,
        String policy,
        String route,
        String requestedModel,
        String answeringModel,
        String upstream,
        int upstreamStatus,
        int proxyStatus,
        TokenUsage usage,
        long costNanoUsd,
        boolean estimated,
        boolean streamed,
        Outcome outcome,
        long durationMicros,
        long firstEventMicros,
        String upstreamRequestId) {
    public UsageRecord {
        Objects.requireNonNull(at, "at");
        Objects.requireNonNull(identityKind, "identityKind");
        Objects.requireNonNull(identityId, "identityId");
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(route, "route");
        Objects.requireNonNull(usage, "usage");
        Objects.requireNonNull(outcome, "outcome");
    }

    /** How a request that reached the upstream ended. */
    public enum Outcome {
        /** The answer was relayed whole. */
        COMPLETED,
        /** The client went away before the end; the upstream call was cancelled. */
        CLIENT_GONE,
        /** The upstream failed: an error status, a broken stream or no answer. */
        UPSTREAM_FAILED
    }
}
