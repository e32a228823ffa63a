package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.core.session.Session;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.core.session.StoredMessage;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * What the JDBC store adds to the {@link SessionStoreContract}: retention, and owners shared by instances. Runs on every database the store
 * supports (H2 and PostgreSQL here; extend it for another).
 */
public abstract class JdbcSessionStoreContract extends SessionStoreContract {
    /** The database of {@link #store()}. */
    protected abstract DataSource dataSource();

    /** The table prefix of {@link #store()}. */
    protected abstract String tablePrefix();

    private SessionStore retaining(ManualClock clock, Duration retention) {
        return JdbcSessionStore.builder(dataSource())
                .tablePrefix(tablePrefix())
                .clock(clock)
                .retention(retention)
                .build();
    }

    @Test
    protected void aSessionWithoutNewMessagesForItsRetentionIsGoneThenDeleted() throws Exception {
        ManualClock clock = new ManualClock();
        SessionStore store = retaining(clock, Duration.ofMinutes(30));
        Session used = store.create();
        Session idle = store.create();
        store.append(idle.id(), List.of(message("user", "old question"), message("assistant", "old answer")));
        clock.advance(Duration.ofMinutes(20));
        store.append(used.id(), List.of(message("user", "still here")));
        clock.advance(Duration.ofMinutes(20));

        assertThat(store.exists(used.id())).isTrue();
        assertThat(store.messages(used.id(), 0, 10).orElseThrow().messages()).hasSize(1);
        assertThat(store.find(idle.id())).isEmpty();
        assertThat(store.messages(idle.id(), 0, 10)).isEmpty();
        assertThat(store.latest(idle.id(), 10)).isEmpty();
        assertThat(store.append(idle.id(), List.of(message("user", "revive?")))).isEmpty();
        assertThat(store.delete(idle.id())).isFalse();
        assertThat(rows("sessions", "id", idle.id())).isEqualTo(1); // invisible, not yet deleted

        store.create(); // the purge runs with a create

        assertThat(rows("sessions", "id", idle.id())).isZero();
        assertThat(rows("messages", "session_id", idle.id())).isZero();
        assertThat(rows("messages", "session_id", used.id())).isEqualTo(1);
    }

    /**
     * A message with a NUL or half a surrogate pair (both valid in a client's JSON) is recorded, each replaced by
     * U+FFFD, whole pairs kept: PostgreSQL refuses a NUL in text, and the turn went unrecorded while the client
     * got its answer.
     */
    @Test
    protected void aMessageWithANulOrALoneSurrogateIsRecordedWithReplacementCharacters() {
        SessionStore store = JdbcSessionStore.builder(dataSource())
                .tablePrefix(tablePrefix())
                .build();
        Session s = store.create();
        assertThat(store.append(
                        s.id(), List.of(message("user", "a\u0000b \ud800 c \ud83d\ude00"), message("assistant", "ok"))))
                .isPresent();

        assertThat(store.messages(s.id(), 0, 10).orElseThrow().messages())
                .extracting(StoredMessage::content)
                .containsExactly("a\uFFFDb \uFFFD c \ud83d\ude00", "ok");
    }

    @Test
    protected void withoutRetentionSessionsAreKept() throws Exception {
        ManualClock clock = new ManualClock();
        SessionStore store = JdbcSessionStore.builder(dataSource())
                .tablePrefix(tablePrefix())
                .clock(clock)
                .build();
        Session s = store.create();
        clock.advance(Duration.ofDays(3650));
        store.create();

        assertThat(store.exists(s.id())).isTrue();
        assertThat(rows("sessions", "id", s.id())).isEqualTo(1);
    }

    /** The owner is in the database: another instance on the same tables sees it. */
    @Test
    protected void anotherInstanceSeesTheOwner() {
        Session owned = store().create("proxy_key:k1");
        SessionStore other = JdbcSessionStore.builder(dataSource())
                .tablePrefix(tablePrefix())
                .build();
        assertThat(other.find(owned.id()).orElseThrow().ownerId()).isEqualTo("proxy_key:k1");
    }

    @Test
    protected void retentionMustBePositive() {
        assertThatThrownBy(() -> JdbcSessionStore.builder(dataSource()).retention(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * A turn that sends history reads the session's size and its latest messages in one transaction on one
     * connection, and records its messages (touching the session) in one more.
     */
    @Test
    protected void aHistoryTurnTakesOneConnectionToReadAndOneToRecord() {
        AtomicInteger checkouts = new AtomicInteger();
        DataSource counted = (DataSource) Proxy.newProxyInstance(
                DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, (p, m, args) -> {
                    if (m.getName().equals("getConnection")) {
                        checkouts.incrementAndGet();
                    }
                    try {
                        return m.invoke(dataSource(), args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        SessionStore store =
                JdbcSessionStore.builder(counted).tablePrefix(tablePrefix()).build();
        Session s = store.create();
        store.append(s.id(), List.of(message("user", "a"), message("assistant", "b")));

        checkouts.set(0);
        SessionStore.RecentHistory recent = store.recentHistory(s.id(), 10).orElseThrow();
        assertThat(checkouts).as("connections to read size and history").hasValue(1);
        assertThat(recent.size()).isPositive();
        assertThat(recent.messages()).hasSize(2);

        checkouts.set(0);
        store.append(s.id(), List.of(message("user", "c"), message("assistant", "d")));
        assertThat(checkouts).as("connections to record a turn").hasValue(1);
    }

    /**
     * Migration 3 fills in the size counter of the sessions an older schema holds a thousand sessions a transaction,
     * not all in one (which held the new column's table lock for as long as the whole table took).
     */
    @Test
    protected void theSizeCounterOfAnOlderSchemaIsFilledInInShortTransactions() throws Exception {
        String prefix = tablePrefix() + "m3_";
        try {
            SessionStore old =
                    JdbcSessionStore.builder(dataSource()).tablePrefix(prefix).build();
            List<String> counted = new ArrayList<>();
            for (String text : List.of("h\u00e9llo", "a", "longer text")) {
                String id = old.create().id();
                old.append(id, List.of(message("user", text), message("assistant", "ok")));
                counted.add(id);
            }
            try (Connection c = dataSource().getConnection();
                    PreparedStatement p = c.prepareStatement("INSERT INTO " + prefix + "sessions"
                            + " (id, created_at, updated_at, last_seq) VALUES (?, ?, ?, 0)")) {
                OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
                for (int i = 0; i < 2_500; i++) {
                    p.setString(1, String.format("ses_filler%05d", i));
                    p.setObject(2, now);
                    p.setObject(3, now);
                    p.addBatch();
                }
                p.executeBatch();
                // As version 2 left it: no counter yet (and no owner).
                c.createStatement().execute("ALTER TABLE " + prefix + "sessions DROP COLUMN total_bytes");
                c.createStatement().execute("ALTER TABLE " + prefix + "sessions DROP COLUMN owner_id");
                c.createStatement().execute("DELETE FROM " + prefix + "schema_version WHERE version >= 3");
            }
            AtomicInteger fills = new AtomicInteger();
            AtomicInteger fillsInALongerTransaction = new AtomicInteger();

            SessionStore upgraded = JdbcSessionStore.builder(countingFills(fills, fillsInALongerTransaction))
                    .tablePrefix(prefix)
                    .build();

            assertThat(upgraded.size(counted.get(0))).contains(6L + 2);
            assertThat(upgraded.size(counted.get(1))).contains(1L + 2);
            assertThat(upgraded.size(counted.get(2))).contains(11L + 2);
            assertThat(upgraded.size("ses_filler00042")).contains(0L);
            assertThat(fillsInALongerTransaction)
                    .as("fills inside a longer transaction")
                    .hasValue(0);
            assertThat(fills).as("fills, each its own transaction").hasValueGreaterThanOrEqualTo(3);
        } finally {
            try (Connection c = dataSource().getConnection()) {
                for (String t : List.of("messages", "sessions", "schema_version")) {
                    c.createStatement().execute("DROP TABLE IF EXISTS " + prefix + t);
                }
            }
        }
    }

    /** The database, counting the statements that fill in size counters, and those run outside auto-commit. */
    private DataSource countingFills(AtomicInteger fills, AtomicInteger inTransaction) {
        return wrap(DataSource.class, dataSource(), fills, inTransaction, null);
    }

    private static <T> T wrap(
            Class<T> type, T target, AtomicInteger fills, AtomicInteger inTransaction, Connection connection) {
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (p, m, args) -> {
            if (type == Statement.class || type == PreparedStatement.class) {
                String sql = type == PreparedStatement.class
                        ? SQL.get(target)
                        : args != null && args.length > 0 && args[0] instanceof String q ? q : null;
                if (m.getName().startsWith("execute") && sql != null && sql.contains("SET total_bytes = (SELECT")) {
                    (connection.getAutoCommit() ? fills : inTransaction).incrementAndGet();
                }
            }
            Object result;
            try {
                result = m.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            if (result instanceof Connection c) {
                return wrap(Connection.class, c, fills, inTransaction, c);
            }
            if (result instanceof PreparedStatement ps && m.getName().equals("prepareStatement")) {
                SQL.put(ps, (String) args[0]);
                return wrap(PreparedStatement.class, ps, fills, inTransaction, connection);
            }
            if (result instanceof Statement st && m.getName().equals("createStatement")) {
                return wrap(Statement.class, st, fills, inTransaction, connection);
            }
            return result;
        }));
    }

    /** The SQL of each prepared statement {@link #wrap} handed out. */
    private static final Map<Object, String> SQL = java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    private int rows(String table, String column, String id) throws Exception {
        try (Connection c = dataSource().getConnection();
                PreparedStatement p = c.prepareStatement(
                        "SELECT COUNT(*) FROM " + tablePrefix() + table + " WHERE " + column + " = ?")) {
            p.setString(1, id);
            try (ResultSet rs = p.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }
}
