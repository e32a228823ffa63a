package io.github.openaiproxy.core.session;

import io.github.openaiproxy.core.internal.JdbcMigrations;
import io.github.openaiproxy.core.internal.JdbcPurge;
import io.github.openaiproxy.core.internal.TablePrefix;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;

/**
 * The JDBC {@link SessionStore}: durable history in two tables, shared by every proxy instance
 * that uses the same database. Plain JDBC on a {@link DataSource} (pass a pooled one, such as
 * HikariCP's); tested on H2 and PostgreSQL.
 *
 * <p>The schema is created or migrated when the store is built. A table {@code <prefix>schema_version}
 * records which numbered migrations ran; each migration is idempotent DDL, so instances that start at
 * the same time cannot break it.
 *
 * <p>Sessions are kept forever unless a {@linkplain Builder#retention retention} is set: then a session without a
 * new message for that long is gone for every reader, and its rows are deleted soon after.
 *
 * <p>Appending locks the session's row ({@code UPDATE ... SET last_seq = last_seq + n}) for the length
 * of one short transaction, so concurrent appends to one session get consecutive, gap-free sequence
 * numbers in one order for every instance.
 */
public final class JdbcSessionStore implements SessionStore {
    /** The default table name prefix. */
    public static final String DEFAULT_PREFIX = "openai_proxy_";

    private static final System.Logger LOG = System.getLogger(JdbcSessionStore.class.getName());
    /** Lock waits and deadlocks are retried this often before the append fails. */
    private static final int ATTEMPTS = 5;
    /** Expired sessions are deleted at most this often (by a {@code create}, which is rare enough). */
    static final Duration PURGE_INTERVAL = Duration.ofMinutes(1);
    /** At most this many expired sessions are deleted by one create. */
    static final int PURGE_STEP = 1000;

    /** A builder for a store on {@code dataSource}, which the store never closes. */
    public static Builder builder(DataSource dataSource) {
        return new Builder(dataSource);
    }

    /** Builds a {@link JdbcSessionStore}. */
    public static final class Builder {
        private final DataSource dataSource;
        private String prefix = DEFAULT_PREFIX;
        private Clock clock = Clock.systemUTC();
        private Duration retention;

        private Builder(DataSource dataSource) {
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        }

        /** The prefix of the table names (lower case letters, digits and {@code _}); default {@code openai_proxy_}. */
        public Builder tablePrefix(String prefix) {
            TablePrefix.check(prefix);
            this.prefix = prefix;
            return this;
        }

        /** The clock for creation times and retention. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * How long a session is kept after its last message (or its creation); {@code null}, the default,
         * keeps sessions until they are deleted. An expired session is unknown to every method at once; its
         * rows are deleted by a later {@link SessionStore#create} (at most once a minute, in the same call, at most
         * {@value #PURGE_STEP} a call: the next call goes on while more are left).
         */
        public Builder retention(Duration retention) {
            if (retention != null && (retention.isNegative() || retention.isZero())) {
                throw new IllegalArgumentException("session retention must be positive: " + retention);
            }
            this.retention = retention;
            return this;
        }

        /** Creates or migrates the schema, then returns the store. */
        public JdbcSessionStore build() {
            JdbcSessionStore store = new JdbcSessionStore(dataSource, prefix, clock, retention);
            store.migrate();
            return store;
        }
    }

    private final DataSource dataSource;
    private final Clock clock;
    private final Duration retention;
    private final String prefix;
    private final String versions;
    private final String sessions;
    private final String messages;
    /** When expired sessions were last deleted, as the clock's epoch millis. */
    private final AtomicLong lastPurge = new AtomicLong(Long.MIN_VALUE);

    private JdbcSessionStore(DataSource dataSource, String prefix, Clock clock, Duration retention) {
        this.dataSource = dataSource;
        this.clock = clock;
        this.retention = retention;
        this.prefix = prefix;
        this.versions = prefix + "schema_version";
        this.sessions = prefix + "sessions";
        this.messages = prefix + "messages";
    }

    /** The migrations, in order; version i+1 is {@code migrations().get(i)}. Never edit one: add one. */
    private List<List<String>> migrations() {
        return List.of(
                List.of(
                        "CREATE TABLE IF NOT EXISTS " + sessions + " (id VARCHAR(64) NOT NULL PRIMARY KEY,"
                                + " created_at TIMESTAMP WITH TIME ZONE NOT NULL,"
                                + " updated_at TIMESTAMP WITH TIME ZONE NOT NULL,"
                                + " last_seq BIGINT NOT NULL)",
                        "CREATE TABLE IF NOT EXISTS " + messages + " (session_id VARCHAR(64) NOT NULL"
                                + " REFERENCES " + sessions + " (id) ON DELETE CASCADE,"
                                + " seq BIGINT NOT NULL,"
                                + " message_id VARCHAR(64) NOT NULL,"
                                + " msg_role VARCHAR(32) NOT NULL,"
                                + " content TEXT NOT NULL,"
                                + " content_json TEXT,"
                                + " created_at TIMESTAMP WITH TIME ZONE NOT NULL,"
                                + " PRIMARY KEY (session_id, seq))"),
                // For retention: finding expired sessions without a full scan.
                List.of("CREATE INDEX IF NOT EXISTS " + prefix + "sessions_updated_at ON " + sessions
                        + " (updated_at)"),
                // For the byte cap of a session: its size as a counter, filled in for existing sessions by
                // backfillSizes (it used to be an UPDATE of every session here, one transaction under this lock).
                List.of("ALTER TABLE " + sessions + " ADD COLUMN IF NOT EXISTS total_bytes BIGINT DEFAULT 0"
                        + " NOT NULL"),
                // Sessions belong to their owner; the sessions of an older schema stay unowned.
                List.of("ALTER TABLE " + sessions + " ADD COLUMN IF NOT EXISTS owner_id TEXT"));
    }

    /** Sessions whose size counter one step of the backfill of migration 3 fills in, each step a transaction. */
    static final int BACKFILL_STEP = 1000;

    /**
     * Fills in the size counter of the sessions migration 3 found, {@value #BACKFILL_STEP} sessions a transaction in
     * id order, so that a table of millions is not one long transaction. Only counters still at 0 are filled in:
     * a session counted already (by an instance that started at the same time and finished first, then appended
     * to it) is not recounted, and a step that runs again after a stopped start changes nothing done.
     */
    private void backfillSizes(Connection c) throws SQLException {
        String after = "";
        try (PreparedStatement next = c.prepareStatement(
                        "SELECT id FROM " + sessions + " WHERE id > ? ORDER BY id LIMIT " + BACKFILL_STEP);
                PreparedStatement fill = c.prepareStatement("UPDATE " + sessions
                        + " SET total_bytes = (SELECT COALESCE(SUM(OCTET_LENGTH(m.content)"
                        + " + COALESCE(OCTET_LENGTH(m.content_json), 0)), 0) FROM " + messages
                        + " m WHERE m.session_id = " + sessions + ".id)"
                        + " WHERE id > ? AND id <= ? AND total_bytes = 0")) {
            while (true) {
                next.setString(1, after);
                String last = null;
                try (ResultSet rs = next.executeQuery()) {
                    while (rs.next()) {
                        last = rs.getString(1);
                    }
                }
                if (last == null) {
                    return;
                }
                fill.setString(1, after);
                fill.setString(2, last);
                fill.executeUpdate();
                after = last;
            }
        }
    }

    private void migrate() {
        try {
            new JdbcMigrations(versions, "session", clock)
                    .migrate(dataSource, migrations(), Map.of(3, this::backfillSizes));
        } catch (SQLException e) {
            throw new SessionStoreException("could not create or migrate the session tables", e);
        }
    }

    @Override
    public Session create() {
        return create(null);
    }

    @Override
    public Session create(String ownerId) {
        Instant now = now();
        purgeExpired(now);
        Session session = new Session(SessionIds.newSessionId(), now, ownerId);
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("INSERT INTO " + sessions
                        + " (id, created_at, updated_at, last_seq, owner_id) VALUES (?, ?, ?, 0, ?)")) {
            p.setString(1, session.id());
            p.setObject(2, utc(now));
            p.setObject(3, utc(now));
            p.setString(4, ownerId);
            p.executeUpdate();
            return session;
        } catch (SQLException e) {
            throw failure("create a session", e);
        }
    }

    @Override
    public Optional<Session> find(String sessionId) {
        return readSession(
                sessionId, "created_at, owner_id", rs -> new Session(sessionId, instant(rs, 1), rs.getString(2)));
    }

    @Override
    public Optional<List<StoredMessage>> append(String sessionId, List<NewMessage> batch) {
        if (!SessionIds.isWellFormed(sessionId)) {
            return Optional.empty();
        }
        SQLException last = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
                return appendOnce(sessionId, batch);
            } catch (SQLException e) {
                if (!isTransient(e)) {
                    throw failure("record messages", e);
                }
                last = e;
                LOG.log(
                        System.Logger.Level.DEBUG,
                        "append retried after {0}",
                        withoutValues(e).toString());
            }
        }
        throw failure("record messages", last);
    }

    private Optional<List<StoredMessage>> appendOnce(String sessionId, List<NewMessage> batch) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                // The UPDATE takes the session's row lock until commit: appends to one session queue here.
                long bytes = 0;
                for (NewMessage m : batch) {
                    bytes += m.size();
                }
                try (PreparedStatement p = c.prepareStatement("UPDATE " + sessions
                        + " SET last_seq = last_seq + ?, total_bytes = total_bytes + ?, updated_at = ?"
                        + " WHERE id = ? AND updated_at >= ?")) {
                    p.setLong(1, batch.size());
                    p.setLong(2, bytes);
                    p.setObject(3, utc(now()));
                    p.setString(4, sessionId);
                    p.setObject(5, utc(cutoff()));
                    if (p.executeUpdate() == 0) {
                        c.rollback();
                        return Optional.empty();
                    }
                }
                long last;
                try (PreparedStatement p = c.prepareStatement("SELECT last_seq FROM " + sessions + " WHERE id = ?")) {
                    p.setString(1, sessionId);
                    try (ResultSet rs = p.executeQuery()) {
                        rs.next();
                        last = rs.getLong(1);
                    }
                }
                List<StoredMessage> stored = new ArrayList<>(batch.size());
                long seq = last - batch.size();
                for (NewMessage m : batch) {
                    stored.add(StoredMessage.of(sessionId, ++seq, m));
                }
                if (!stored.isEmpty()) {
                    insert(c, stored);
                }
                c.commit();
                return Optional.of(List.copyOf(stored));
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        }
    }

    private void insert(Connection c, List<StoredMessage> stored) throws SQLException {
        try (PreparedStatement p = c.prepareStatement("INSERT INTO " + messages
                + " (session_id, seq, message_id, msg_role, content, content_json, created_at)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            for (StoredMessage m : stored) {
                p.setString(1, m.sessionId());
                p.setLong(2, m.sequence());
                p.setString(3, m.id());
                p.setString(4, m.role());
                // A NUL would fail the turn's insert on PostgreSQL, and the turn would go unrecorded.
                p.setString(5, io.github.openaiproxy.core.internal.StorableText.of(m.content()));
                p.setString(6, m.contentJson());
                p.setObject(7, utc(m.timestamp()));
                p.addBatch();
            }
            p.executeBatch();
        }
    }

    @Override
    public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit) {
        return messages(sessionId, afterSequence, limit, Long.MAX_VALUE);
    }

    @Override
    public Optional<MessagePage> messages(String sessionId, long afterSequence, int limit, long maxBytes) {
        InMemorySessionStore.requirePositive(limit);
        return readMessages(sessionId, (c, size) -> {
            // One row more than the page tells whether more follow; the byte budget may stop it sooner.
            List<StoredMessage> page = select(
                    c,
                    "SELECT " + COLUMNS + " FROM " + messages + " WHERE session_id = ? AND seq > ? ORDER BY seq ASC",
                    sessionId,
                    afterSequence,
                    limit + 1,
                    maxBytes);
            int kept = Math.min(limit, MessagePage.fitting(page, maxBytes));
            boolean more = page.size() > kept;
            return new MessagePage(more ? page.subList(0, kept) : page, more);
        });
    }

    @Override
    public Optional<Long> size(String sessionId) {
        return readSession(sessionId, "total_bytes", rs -> rs.getLong(1));
    }

    @Override
    public Optional<List<StoredMessage>> latest(String sessionId, int limit) {
        InMemorySessionStore.requirePositive(limit);
        return readMessages(sessionId, (c, size) -> latest(c, sessionId, limit));
    }

    /** The session's size and latest messages in one transaction on one connection. */
    @Override
    public Optional<RecentHistory> recentHistory(String sessionId, int limit) {
        InMemorySessionStore.requirePositive(limit);
        return readMessages(sessionId, (c, size) -> new RecentHistory(size, latest(c, sessionId, limit)));
    }

    /**
     * Reads no message of a full session, nor of one whose latest messages surely do not fit {@code maxBytes}: the
     * session row's counter rules most sessions out, and for a larger one the database adds up the lengths of the
     * latest rows without sending them (PostgreSQL reads a long value's length from its header).
     */
    @Override
    public Optional<RecentHistory> recentHistory(String sessionId, int limit, long fullAt, long maxBytes) {
        InMemorySessionStore.requirePositive(limit);
        return readMessages(sessionId, (c, size) -> {
            if (size >= fullAt) {
                return new RecentHistory(size, List.of());
            }
            // The lower bound never exceeds the counter, which adds the text and the JSON of every message.
            if (size > maxBytes && leastBytes(c, sessionId, limit) > maxBytes) {
                return new RecentHistory(size, List.of(), true);
            }
            return new RecentHistory(size, latest(c, sessionId, limit));
        });
    }

    /** The UTF-8 bytes of the latest messages' text, or of their JSON content where that is shorter. */
    private long leastBytes(Connection c, String sessionId, int limit) throws SQLException {
        try (PreparedStatement p = c.prepareStatement("SELECT COALESCE(SUM(CASE WHEN content_json IS NULL"
                + " THEN OCTET_LENGTH(content) ELSE LEAST(OCTET_LENGTH(content), OCTET_LENGTH(content_json)) END), 0)"
                + " FROM (SELECT content, content_json FROM " + messages
                + " WHERE session_id = ? ORDER BY seq DESC LIMIT ?) latest")) {
            p.setString(1, sessionId);
            p.setInt(2, limit);
            try (ResultSet rs = p.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private List<StoredMessage> latest(Connection c, String sessionId, int limit) throws SQLException {
        List<StoredMessage> newestFirst = select(
                c,
                "SELECT " + COLUMNS + " FROM " + messages + " WHERE session_id = ? AND seq > ? ORDER BY seq DESC",
                sessionId,
                0,
                limit,
                Long.MAX_VALUE);
        Collections.reverse(newestFirst);
        return List.copyOf(newestFirst);
    }

    /** A read of one session's messages, given the session's size. */
    private interface MessageRead<T> {
        T read(Connection c, long size) throws SQLException;
    }

    /** Reads a value from the current row. */
    private interface RowRead<T> {
        T read(ResultSet rs) throws SQLException;
    }

    /**
     * Runs {@code read} if the session exists, in one transaction, so a concurrent delete cannot fall
     * between "exists" and the read; empty for an unknown session.
     */
    private <T> Optional<T> readMessages(String sessionId, MessageRead<T> read) {
        if (!SessionIds.isWellFormed(sessionId)) {
            return Optional.empty();
        }
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                Optional<Long> size = sessionColumn(c, sessionId, "total_bytes", rs -> rs.getLong(1));
                return size.isPresent() ? Optional.of(read.read(c, size.get())) : Optional.empty();
            } finally {
                c.commit();
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            throw failure("read messages", e);
        }
    }

    /** One column of a live session's row, on a connection of its own; empty for an unknown session. */
    private <T> Optional<T> readSession(String sessionId, String column, RowRead<T> read) {
        if (!SessionIds.isWellFormed(sessionId)) {
            return Optional.empty();
        }
        try (Connection c = dataSource.getConnection()) {
            return sessionColumn(c, sessionId, column, read);
        } catch (SQLException e) {
            throw failure("read a session", e);
        }
    }

    /** One column of a live (unexpired) session's row; empty for an unknown session. */
    private <T> Optional<T> sessionColumn(Connection c, String sessionId, String column, RowRead<T> read)
            throws SQLException {
        try (PreparedStatement p =
                c.prepareStatement("SELECT " + column + " FROM " + sessions + " WHERE id = ? AND updated_at >= ?")) {
            p.setString(1, sessionId);
            p.setObject(2, utc(cutoff()));
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? Optional.of(read.read(rs)) : Optional.empty();
            }
        }
    }

    @Override
    public boolean delete(String sessionId) {
        if (!SessionIds.isWellFormed(sessionId)) {
            return false;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p =
                        c.prepareStatement("DELETE FROM " + sessions + " WHERE id = ? AND updated_at >= ?")) {
            p.setString(1, sessionId);
            p.setObject(2, utc(cutoff()));
            return p.executeUpdate() > 0;
        } catch (SQLException e) {
            throw failure("delete a session", e);
        }
    }

    private static final String COLUMNS = "seq, message_id, msg_role, content, content_json, created_at";

    /**
     * The rows of {@code sql}, at most {@code maxRows}; reading stops at the first row that takes the
     * total size past {@code maxBytes}, or the second row when the first alone is past it (so the
     * caller sees whether more follow).
     */
    private static List<StoredMessage> select(
            Connection c, String sql, String sessionId, long afterSequence, int maxRows, long maxBytes)
            throws SQLException {
        try (PreparedStatement p = c.prepareStatement(sql)) {
            p.setString(1, sessionId);
            p.setLong(2, afterSequence);
            p.setMaxRows(maxRows);
            // Rows in batches (PostgreSQL otherwise reads the whole result), so a budget stop reads no more.
            p.setFetchSize(Math.min(maxRows, 100));
            List<StoredMessage> out = new ArrayList<>();
            long bytes = 0;
            try (ResultSet rs = p.executeQuery()) {
                // Past the budget, one row more still tells the caller that more follow.
                while ((bytes <= maxBytes || out.size() < 2) && rs.next()) {
                    StoredMessage m = new StoredMessage(
                            rs.getString(2),
                            sessionId,
                            rs.getLong(1),
                            rs.getString(3),
                            rs.getString(4),
                            rs.getString(5),
                            instant(rs, 6));
                    out.add(m);
                    bytes += m.size();
                }
            }
            return out;
        }
    }

    private Instant now() {
        return clock.instant().truncatedTo(ChronoUnit.MILLIS);
    }

    /** Sessions last updated before this are expired (the epoch when they are kept forever). */
    private Instant cutoff() {
        return retention == null ? Instant.EPOCH : now().minus(retention);
    }

    /** Deletes expired sessions (their messages go by cascade), at most once per {@link #PURGE_INTERVAL}. */
    private void purgeExpired(Instant now) {
        long last = lastPurge.get();
        long nowMillis = now.toEpochMilli();
        if (retention == null
                || (last != Long.MIN_VALUE && nowMillis - last < PURGE_INTERVAL.toMillis())
                || !lastPurge.compareAndSet(last, nowMillis)) {
            return;
        }
        // One bounded step per call: this runs in a create, which must not wait for a backlog of expired sessions
        // (one DELETE of 200,000 held a POST /sessions for seconds), nor, on PostgreSQL, for the rows another
        // instance's purge holds (they are skipped: that instance deletes them).
        String expired = "SELECT id FROM " + sessions + " WHERE updated_at < ? ORDER BY updated_at LIMIT " + PURGE_STEP;
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement(
                        JdbcPurge.deleteSelected(sessions, expired, JdbcPurge.isPostgres(c), true))) {
            p.setObject(1, utc(now.minus(retention)));
            int deleted = p.executeUpdate();
            if (deleted > 0) {
                LOG.log(System.Logger.Level.DEBUG, "deleted {0} expired sessions", deleted);
            }
            if (deleted == PURGE_STEP) {
                lastPurge.compareAndSet(nowMillis, last); // more are waiting: the next create goes on
            }
        } catch (SQLException e) {
            // Expired sessions are already invisible; deleting them can wait for the next purge.
            LOG.log(System.Logger.Level.WARNING, "could not delete expired sessions: {0}", e.getMessage());
        }
    }

    private static OffsetDateTime utc(Instant instant) {
        return OffsetDateTime.ofInstant(instant, ZoneOffset.UTC);
    }

    private static Instant instant(ResultSet rs, int column) throws SQLException {
        return rs.getObject(column, OffsetDateTime.class).toInstant();
    }

    /** Lock timeouts, deadlocks and serialization failures: worth another try. */
    private static boolean isTransient(SQLException e) {
        String state = e.getSQLState();
        return e instanceof java.sql.SQLTransientException
                || "40001".equals(state) // serialization failure
                || "40P01".equals(state) // PostgreSQL deadlock
                || "HYT00".equals(state) // H2 lock timeout
                || e.getErrorCode() == 50200; // H2 lock timeout (LOCK_TIMEOUT_1)
    }

    private static SessionStoreException failure(String what, SQLException e) {
        SQLException shown = withoutValues(e);
        return new SessionStoreException("could not " + what + ": " + shown.getMessage(), shown);
    }

    /**
     * The failure as it may be logged: a batch's error is replaced by the error of its statement. pgjdbc words a
     * batch's failure with the aborted row and its values ("Batch entry 0 INSERT INTO ... VALUES (..., '<the
     * message>', ...) was aborted"), and messages are what users wrote; the statement's own error (the batch's next
     * exception, the server's message) names no value.
     */
    static SQLException withoutValues(SQLException e) {
        if (e instanceof java.sql.BatchUpdateException batch) {
            SQLException next = batch.getNextException();
            return next != null && !(next instanceof java.sql.BatchUpdateException)
                    ? next
                    : new SQLException("a batch of inserts failed", batch.getSQLState(), batch.getErrorCode());
        }
        return e;
    }
}
