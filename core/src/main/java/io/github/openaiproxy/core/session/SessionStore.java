package io.github.openaiproxy.core.session;

import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * Where chat sessions and their messages live. Implementations are thread-safe. Methods that take a
 * session id answer "unknown" (an empty optional, {@code false}) for an id that does not exist, has
 * expired or is not even well-formed; they throw {@link SessionStoreException} only when the store
 * itself fails.
 *
 * <p>Order: {@link #append} gives a batch consecutive sequence numbers atomically, so messages appended
 * together stay together even when many calls append to one session at once, and every reader sees the
 * same order.
 *
 * <p>Owners: a session may record who owns it ({@link #create(String)}, {@link Session#ownerId()}). The store
 * only keeps the owner; the engine decides who may use a session (see {@link Session#isUsableBy}), so the
 * store's methods take no caller.
 *
 * <p>Two implementations come with the core: {@link #inMemory()} (bounded, with expiry; the engine's
 * default) and {@link #jdbc(DataSource)} (durable, shared by every proxy instance on the same database).
 */
public interface SessionStore extends AutoCloseable {
    /** Creates an unowned session with a new unguessable id. */
    Session create();

    /**
     * Creates a session with a new unguessable id, owned by {@code ownerId}; {@link #find} returns it with
     * that owner from then on.
     *
     * <p>The default serves stores written before sessions had owners: it creates an unowned session when
     * {@code ownerId} is {@code null}, and otherwise refuses ({@link UnsupportedOperationException}, a 503 for
     * the caller) rather than drop the owner and let others use the session. Override it to keep the owner.
     *
     * @param ownerId the owner, for example {@code user:alice}; {@code null} for an unowned session
     */
    default Session create(String ownerId) {
        if (ownerId == null) {
            return create();
        }
        throw new UnsupportedOperationException(
                getClass().getName() + " does not record session owners: implement SessionStore.create(String)");
    }

    /** The session with its owner, if it exists. */
    Optional<Session> find(String sessionId);

    /** Whether the session exists. */
    default boolean exists(String sessionId) {
        return find(sessionId).isPresent();
    }

    /**
     * Appends messages at the end of a session, atomically and in the given order.
     *
     * @return the messages as stored (with their sequence numbers), or empty if the session is unknown
     */
    Optional<List<StoredMessage>> append(String sessionId, List<NewMessage> messages);

    /**
     * A page of messages in sequence order.
     *
     * @param afterSequence only messages with a greater sequence number (0 for the first page)
     * @param limit the most messages to return, at least 1
     * @return the page, or empty if the session is unknown
     */
    Optional<MessagePage> messages(String sessionId, long afterSequence, int limit);

    /**
     * A page of messages in sequence order that also stops at {@code maxBytes} of message
     * {@linkplain StoredMessage#size() size} (but holds at least one message), with {@code hasMore} set
     * when it stopped early. The stores of the core stop reading there; this default reads the page, then
     * cuts it.
     *
     * @return the page, or empty if the session is unknown
     */
    default Optional<MessagePage> messages(String sessionId, long afterSequence, int limit, long maxBytes) {
        return messages(sessionId, afterSequence, limit).map(p -> p.capped(maxBytes));
    }

    /**
     * The bytes a session holds: the sum of its messages' {@linkplain StoredMessage#size() sizes}. The
     * stores of the core keep it as a counter; this default adds up every page.
     *
     * @return the size, or empty if the session is unknown
     */
    default Optional<Long> size(String sessionId) {
        long total = 0;
        long after = 0;
        while (true) {
            Optional<MessagePage> page = messages(sessionId, after, 1000);
            if (page.isEmpty()) {
                return Optional.empty();
            }
            for (StoredMessage m : page.get().messages()) {
                total += m.size();
            }
            if (!page.get().hasMore()) {
                return Optional.of(total);
            }
            after = page.get().nextAfter();
        }
    }

    /**
     * The last {@code limit} messages in sequence order (for sending history upstream as context).
     *
     * @return the messages, or empty if the session is unknown
     */
    Optional<List<StoredMessage>> latest(String sessionId, int limit);

    /**
     * A session's {@linkplain SessionStore#size size} and its latest messages, in sequence order.
     *
     * @param size the session's size
     * @param messages its latest messages; none when {@code tooLarge}, or when a bounded read found the session full
     * @param tooLarge whether a {@linkplain #recentHistory(String, int, long, long) bounded read} found the latest
     *     messages surely longer than its budget, and so read none of them
     */
    record RecentHistory(long size, List<StoredMessage> messages, boolean tooLarge) {
        public RecentHistory {
            messages = List.copyOf(messages);
        }

        /** The size and the latest messages, which fit whatever budget was asked. */
        public RecentHistory(long size, List<StoredMessage> messages) {
            this(size, messages, false);
        }
    }

    /**
     * What a turn that sends history needs, read at once: the session's {@link #size} and its last
     * {@code limit} messages (as {@link #latest}). The JDBC store reads both in one transaction on one
     * connection; this default calls the two methods.
     *
     * @return the size and messages, or empty if the session is unknown
     */
    default Optional<RecentHistory> recentHistory(String sessionId, int limit) {
        Optional<Long> size = size(sessionId);
        if (size.isEmpty()) {
            return Optional.empty();
        }
        return latest(sessionId, limit).map(latest -> new RecentHistory(size.get(), latest));
    }

    /**
     * As {@link #recentHistory(String, int)}, for a turn that will be refused when the session holds
     * {@code fullAt} bytes or more, or when the messages alone surely take more than {@code maxBytes} bytes in
     * the body sent upstream: a store may then skip reading the messages (a session may hold more than one body).
     * It may answer {@link RecentHistory#messages() no messages} when {@code size >= fullAt}, and
     * {@link RecentHistory#tooLarge() tooLarge} when the UTF-8 bytes of the latest messages' text (of the text or
     * the JSON content, whichever is shorter) add up to more than {@code maxBytes}. This default reads them all.
     *
     * @return the size and messages, or empty if the session is unknown
     */
    default Optional<RecentHistory> recentHistory(String sessionId, int limit, long fullAt, long maxBytes) {
        return recentHistory(sessionId, limit);
    }

    /** Deletes a session and its messages; {@code false} if it did not exist. */
    boolean delete(String sessionId);

    /**
     * Whether calls may block on I/O. The engine runs the calls of a blocking store on its own threads,
     * never on the threads that relay requests.
     */
    default boolean blocking() {
        return true;
    }

    /** Releases what the store holds; a store on a caller's {@link DataSource} leaves it open. */
    @Override
    default void close() {}

    /** An in-memory store with the default bounds (see {@link InMemorySessionStore#DEFAULTS}). */
    static SessionStore inMemory() {
        return inMemory(null);
    }

    /**
     * An in-memory store with the default bounds, where a session unused for {@code idleTimeout} is gone;
     * {@code null} keeps the default of {@link InMemorySessionStore#DEFAULTS}.
     */
    static SessionStore inMemory(java.time.Duration idleTimeout) {
        return inMemory(idleTimeout, java.time.Clock.systemUTC());
    }

    /** As {@link #inMemory(java.time.Duration)}, on {@code clock} (creation times and idle expiry). */
    static SessionStore inMemory(java.time.Duration idleTimeout, java.time.Clock clock) {
        InMemorySessionStore.Limits limits = idleTimeout == null
                ? InMemorySessionStore.DEFAULTS
                : InMemorySessionStore.DEFAULTS.withIdleTimeout(idleTimeout);
        return InMemorySessionStore.builder().limits(limits).clock(clock).build();
    }

    /** A store on a JDBC database (H2, PostgreSQL, ...); creates or migrates its tables now. */
    static SessionStore jdbc(DataSource dataSource) {
        return JdbcSessionStore.builder(dataSource).build();
    }
}
