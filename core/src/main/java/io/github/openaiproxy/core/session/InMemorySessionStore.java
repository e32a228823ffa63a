package io.github.openaiproxy.core.session;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The in-memory {@link SessionStore}: bounded in sessions and in messages per session, with an idle
 * expiry. When full, creating a session evicts the least recently used one; a session over its message
 * bound drops its oldest messages (sequence numbers keep counting). So that callers creating sessions in a loop
 * cannot push others' out: a full store evicts the least recently used unowned session (anonymous callers') before
 * any owned one, and one owner (a user, a key) keeps at most a hundredth of the sessions (at least 100, or all
 * when fewer): past that, creating one evicts that owner's own least recently used. The messages kept are bounded in
 * bytes too ({@link Limits#maxBytes()}): a few turns of large messages would otherwise fill the heap long before the
 * session count is reached (10,000 sessions of 16 MB each). History is lost on restart: use {@link JdbcSessionStore}
 * for durable, shared history.
 *
 * <p>One lock for all: every operation is a few map and list steps, so contention stays negligible.
 */
public final class InMemorySessionStore implements SessionStore {
    /**
     * The message bytes kept by default: an eighth of the heap, between 16 MB and 256 MB (a session's messages take
     * about their UTF-8 size on the heap).
     */
    public static final long DEFAULT_MAX_BYTES =
            defaultMaxBytes(Runtime.getRuntime().maxMemory());

    /**
     * 10,000 sessions, 1,000 messages each, {@link #DEFAULT_MAX_BYTES} of messages in all, expiring after 24 hours
     * without use.
     */
    public static final Limits DEFAULTS = new Limits(10_000, 1_000, Duration.ofHours(24), DEFAULT_MAX_BYTES);

    /** {@link #DEFAULT_MAX_BYTES} for a heap of {@code maxHeapBytes}. */
    static long defaultMaxBytes(long maxHeapBytes) {
        return Math.max(16L << 20, Math.min(256L << 20, maxHeapBytes / 8));
    }

    /**
     * The bounds of an in-memory store.
     *
     * @param maxSessions sessions kept at most
     * @param maxMessagesPerSession messages kept per session at most
     * @param idleTimeout a session unused for this long is gone
     * @param maxBytes the bytes of messages kept in all sessions together (as {@link StoredMessage#size()} counts
     *     them); over it the least recently used sessions are evicted, anonymous callers' first (see
     *     {@link InMemorySessionStore})
     */
    public record Limits(int maxSessions, int maxMessagesPerSession, Duration idleTimeout, long maxBytes) {
        public Limits {
            if (maxSessions < 1 || maxMessagesPerSession < 1 || maxBytes < 1) {
                throw new IllegalArgumentException("session limits must be positive");
            }
            Objects.requireNonNull(idleTimeout, "idleTimeout");
            if (idleTimeout.isNegative() || idleTimeout.isZero()) {
                throw new IllegalArgumentException("session idle timeout must be positive");
            }
        }

        /** Bounds with {@link #DEFAULT_MAX_BYTES} of messages in all. */
        public Limits(int maxSessions, int maxMessagesPerSession, Duration idleTimeout) {
            this(maxSessions, maxMessagesPerSession, idleTimeout, DEFAULT_MAX_BYTES);
        }

        public Limits withIdleTimeout(Duration idleTimeout) {
            return new Limits(maxSessions, maxMessagesPerSession, idleTimeout, maxBytes);
        }

        public Limits withMaxBytes(long maxBytes) {
            return new Limits(maxSessions, maxMessagesPerSession, idleTimeout, maxBytes);
        }
    }

    /** A builder with the default limits and the UTC system clock. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds an {@link InMemorySessionStore}. */
    public static final class Builder {
        private Limits limits = DEFAULTS;
        private Clock clock = Clock.systemUTC();

        private Builder() {}

        public Builder limits(Limits limits) {
            this.limits = Objects.requireNonNull(limits, "limits");
            return this;
        }

        /** The clock for creation times and expiry (tests pass a fixed or moving one). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public InMemorySessionStore build() {
            return new InMemorySessionStore(limits, clock);
        }
    }

    private final Limits limits;
    private final Clock clock;
    /** Access order: the eldest entry is the least recently used session. */
    private final LinkedHashMap<String, Entry> sessions = new LinkedHashMap<>(16, 0.75f, true);
    /** Owned sessions kept per owner; guarded by {@link #sessions}. */
    private final Map<String, Integer> perOwner = new java.util.HashMap<>();
    /** Unowned sessions kept; guarded by {@link #sessions}. */
    private int unowned;
    /** The bytes of the messages kept in all sessions; guarded by {@link #sessions}. */
    private long totalBytes;
    /** The most sessions one owner keeps. */
    private final int maxPerOwner;

    private InMemorySessionStore(Limits limits, Clock clock) {
        this.limits = limits;
        this.clock = clock;
        this.maxPerOwner = Math.max(limits.maxSessions() / 100, Math.min(limits.maxSessions(), 100));
    }

    /** Counts a session that left the map, however it left. */
    private void left(Entry e) {
        totalBytes -= e.bytes;
        String owner = e.session.ownerId();
        if (owner == null) {
            unowned--;
        } else {
            perOwner.computeIfPresent(owner, (o, n) -> n <= 1 ? null : n - 1);
        }
    }

    /** Evicts the least recently used session that {@code which} accepts; whether there was one. */
    private boolean evictFirst(java.util.function.Predicate<Session> which) {
        Iterator<Entry> it = sessions.values().iterator(); // a scan: creating a session is rare
        while (it.hasNext()) {
            Entry e = it.next();
            if (which.test(e.session)) {
                it.remove();
                left(e);
                return true;
            }
        }
        return false;
    }

    private static final class Entry {
        final Session session;
        final List<StoredMessage> messages = new ArrayList<>();
        long lastSequence;
        /** The sum of the kept messages' sizes. */
        long bytes;

        Instant lastUsed;

        Entry(Session session) {
            this.session = session;
            this.lastUsed = session.createdAt();
        }
    }

    @Override
    public Session create() {
        return create(null);
    }

    @Override
    public Session create(String ownerId) {
        Instant now = clock.instant();
        Session s = new Session(SessionIds.newSessionId(), now, ownerId);
        synchronized (sessions) {
            purgeExpired(now);
            if (ownerId != null && perOwner.getOrDefault(ownerId, 0) >= maxPerOwner) {
                evictFirst(x -> ownerId.equals(x.ownerId())); // this owner's own, not anyone else's
            }
            while (sessions.size() >= limits.maxSessions()) {
                if (unowned == 0 || !evictFirst(x -> x.ownerId() == null)) {
                    evictFirst(x -> true);
                }
            }
            sessions.put(s.id(), new Entry(s));
            if (ownerId == null) {
                unowned++;
            } else {
                perOwner.merge(ownerId, 1, Integer::sum);
            }
        }
        return s;
    }

    @Override
    public Optional<Session> find(String sessionId) {
        synchronized (sessions) {
            return live(sessionId).map(e -> e.session);
        }
    }

    @Override
    public Optional<List<StoredMessage>> append(String sessionId, List<NewMessage> messages) {
        synchronized (sessions) {
            Optional<Entry> entry = live(sessionId);
            if (entry.isEmpty()) {
                return Optional.empty();
            }
            Entry e = entry.get();
            List<StoredMessage> stored = new ArrayList<>(messages.size());
            for (NewMessage m : messages) {
                stored.add(StoredMessage.of(sessionId, ++e.lastSequence, m));
            }
            e.messages.addAll(stored);
            for (StoredMessage m : stored) {
                e.bytes += m.size();
                totalBytes += m.size();
            }
            dropOldest(e, e.messages.size() - limits.maxMessagesPerSession());
            makeRoom(e, stored.size());
            return Optional.of(List.copyOf(stored));
        }
    }

    /** Drops a session's {@code count} oldest messages (none when {@code count} is not positive). */
    private void dropOldest(Entry e, int count) {
        if (count <= 0) {
            return;
        }
        List<StoredMessage> dropped = e.messages.subList(0, count);
        for (StoredMessage m : dropped) {
            e.bytes -= m.size();
            totalBytes -= m.size();
        }
        dropped.clear();
    }

    /**
     * Brings the bytes kept back under {@link Limits#maxBytes()} after {@code e} grew by its {@code added} last
     * messages: evicts the least recently used other sessions, anonymous callers' first; an owned session's turn may
     * then evict owned ones, an anonymous turn never does (callers appending in a loop must not push out sessions
     * that belong to someone), and drops {@code e}'s own older messages instead. The turn just recorded is kept
     * whole, so the bytes kept can end above the bound by at most one turn.
     */
    private void makeRoom(Entry e, int added) {
        while (totalBytes > limits.maxBytes()) {
            if (unowned > (e.session.ownerId() == null ? 1 : 0)
                    && evictFirst(x -> x.ownerId() == null && x != e.session)) {
                continue;
            }
            if (e.session.ownerId() != null && evictFirst(x -> x != e.session)) {
                continue;
            }
            int older = e.messages.size() - added;
            if (older <= 0) {
                return;
            }
            dropOldest(e, 1);
        }
    }

    @Override
    public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit) {
        return messages(sessionId, afterSequence, limit, Long.MAX_VALUE);
    }

    @Override
    public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit, long maxBytes) {
        requirePositive(limit);
        synchronized (sessions) {
            return live(sessionId).map(e -> {
                int from = firstAfter(e.messages, afterSequence);
                int to = (int) Math.min(e.messages.size(), (long) from + limit);
                to = from + MessagePage.fitting(e.messages.subList(from, to), maxBytes);
                return new MessagePage(List.copyOf(e.messages.subList(from, to)), to < e.messages.size());
            });
        }
    }

    @Override
    public Optional<Long> size(String sessionId) {
        synchronized (sessions) {
            return live(sessionId).map(e -> e.bytes);
        }
    }

    @Override
    public Optional<List<StoredMessage>> latest(String sessionId, int limit) {
        requirePositive(limit);
        synchronized (sessions) {
            return live(sessionId).map(e -> {
                int from = Math.max(0, e.messages.size() - limit);
                return List.copyOf(e.messages.subList(from, e.messages.size()));
            });
        }
    }

    @Override
    public boolean delete(String sessionId) {
        synchronized (sessions) {
            boolean existed = live(sessionId).isPresent();
            Entry gone = sessions.remove(sessionId);
            if (gone != null) {
                left(gone);
            }
            return existed;
        }
    }

    @Override
    public boolean blocking() {
        return false;
    }

    /** The entry if it exists and has not expired; touching it makes it the most recently used. */
    private Optional<Entry> live(String sessionId) {
        if (!SessionIds.isWellFormed(sessionId)) {
            return Optional.empty();
        }
        Entry e = sessions.get(sessionId);
        if (e == null) {
            return Optional.empty();
        }
        Instant now = clock.instant();
        if (expired(e, now)) {
            sessions.remove(sessionId);
            left(e);
            return Optional.empty();
        }
        e.lastUsed = now;
        return Optional.of(e);
    }

    private boolean expired(Entry e, Instant now) {
        return !e.lastUsed.plus(limits.idleTimeout()).isAfter(now);
    }

    private void purgeExpired(Instant now) {
        Iterator<Entry> it = sessions.values().iterator();
        while (it.hasNext()) {
            Entry e = it.next();
            if (!expired(e, now)) {
                break; // access order: every later entry was used more recently
            }
            it.remove();
            left(e);
        }
    }

    private static int firstAfter(List<StoredMessage> messages, long afterSequence) {
        int lo = 0;
        int hi = messages.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (messages.get(mid).sequence() <= afterSequence) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    static void requirePositive(int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be at least 1");
        }
    }
}
