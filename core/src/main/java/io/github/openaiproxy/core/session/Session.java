package io.github.openaiproxy.core.session;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * A chat session: an id that clients hold and the messages recorded under it.
 *
 * <p>A session created by an identified caller records its owner ({@link
 * io.github.openaiproxy.core.access.Identity#ownerId()}): to every other caller it does not exist. A session
 * without an owner (created anonymously) is usable by anyone who holds its id, which is the capability.
 *
 * @param id the session id: unguessable (128 bits from {@link java.security.SecureRandom}), URL-safe
 * @param createdAt when the session was created
 * @param ownerId who owns it, for example {@code user:alice}; {@code null} for an unowned session
 */
public record Session(String id, Instant createdAt, String ownerId) {
    public Session {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(createdAt, "createdAt");
    }

    /** An unowned session (as every session was before sessions had owners). */
    public Session(String id, Instant createdAt) {
        this(id, createdAt, null);
    }

    /** The owner, empty for an unowned session. */
    public Optional<String> owner() {
        return Optional.ofNullable(ownerId);
    }

    /**
     * Whether a caller that owns what it creates as {@code callerOwnerId} ({@code null} for an anonymous
     * caller) may use this session: an unowned session is anyone's who holds its id; an owned one only its
     * owner's.
     */
    public boolean isUsableBy(String callerOwnerId) {
        return ownerId == null || ownerId.equals(callerOwnerId);
    }
}
