package io.github.openaiproxy.core.session;

import java.time.Instant;
import java.util.Objects;

/**
 * A chat session: an id that clients hold and the messages recorded under it.
 *
 * @param id the session id: unguessable (128 bits from {@link java.security.SecureRandom}), URL-safe
 * @param createdAt when the session was created
 */
public record Session(String id, Instant createdAt) {
    public Session {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(createdAt, "createdAt");
    }
}
