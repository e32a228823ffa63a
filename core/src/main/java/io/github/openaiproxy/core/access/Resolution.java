package io.github.openaiproxy.core.access;

import java.util.Objects;

/** What one {@link IdentitySource} made of a request. */
public sealed interface Resolution {
    /** The request carries no credential of this source's kind: the next source is asked. */
    Resolution ABSENT = new Absent();

    /** A credential of this kind, checked and valid. */
    static Resolution identified(Identity identity) {
        return new Identified(identity);
    }

    /**
     * A credential of this kind that fails its check: the request is refused with 401, never downgraded to
     * anonymous.
     *
     * @param reason a short, bounded code for logs and metrics ({@code unknown_key}, {@code expired_key},
     *     {@code revoked_key}, {@code invalid_token}, ...); the client never sees it
     */
    static Resolution rejected(String reason) {
        return new Rejected(reason);
    }

    /** No credential of this kind. */
    record Absent() implements Resolution {}

    /** A valid credential. */
    record Identified(Identity identity) implements Resolution {
        public Identified {
            Objects.requireNonNull(identity, "identity");
        }
    }

    /** A credential that fails its check. */
    record Rejected(String reason) implements Resolution {
        public Rejected {
            Objects.requireNonNull(reason, "reason");
        }
    }
}
