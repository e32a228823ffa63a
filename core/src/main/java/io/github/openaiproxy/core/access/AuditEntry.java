package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.Objects;

/**
 * One change made through the admin API or the command line: who, what, when, and what it was made to. Never
 * a key or its hash.
 *
 * @param at when
 * @param actor who: {@code token:<first 8 hex of the admin token's hash>}, {@code user:<name>} or {@code cli}
 * @param action what, for example {@code key.create}, {@code key.revoke}, {@code policy.save}
 * @param keyId the proxy key's id for a key action, the image's id for {@code image.delete}, else {@code null}
 * @param policy the policy's name for a policy action or a key's new policy, else {@code null}
 */
public record AuditEntry(Instant at, String actor, String action, String keyId, String policy) {
    public AuditEntry {
        Objects.requireNonNull(at, "at");
        Objects.requireNonNull(actor, "actor");
        Objects.requireNonNull(action, "action");
    }
}
