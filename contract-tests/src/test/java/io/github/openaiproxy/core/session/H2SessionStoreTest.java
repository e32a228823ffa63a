package io.github.openaiproxy.core.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.JdbcSessionStoreContract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JDBC store on embedded H2: the contract in memory, and durability on a file database. */
class H2SessionStoreTest extends JdbcSessionStoreContract {
    private static final JdbcDataSource DATABASE =
            dataSource("jdbc:h2:mem:contract-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
    private static final SessionStore STORE = SessionStore.jdbc(DATABASE);

    @TempDir
    Path dir;

    @Override
    protected SessionStore store() {
        return STORE;
    }

    @Override
    protected DataSource dataSource() {
        return DATABASE;
    }

    @Override
    protected String tablePrefix() {
        return JdbcSessionStore.DEFAULT_PREFIX;
    }

    static JdbcDataSource dataSource(String url) {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL(url);
        ds.setUser("sa");
        ds.setPassword("");
        return ds;
    }

    @Test
    void blocks() {
        assertThat(STORE.blocking()).isTrue();
    }

    @Test
    void historySurvivesARestartOfTheDatabase() throws Exception {
        String url = "jdbc:h2:file:" + dir.resolve("sessions").toAbsolutePath();
        String id;
        {
            SessionStore first = SessionStore.jdbc(dataSource(url));
            id = first.create().id();
            first.append(id, List.of(message("user", "remember me"), message("assistant", "I will")));
        } // no connection stays open: the H2 database closes with the last one

        assertThat(Files.exists(dir.resolve("sessions.mv.db"))).isTrue();
        SessionStore second = SessionStore.jdbc(dataSource(url));
        assertThat(second.messages(id, 0, 10).orElseThrow().messages())
                .extracting(StoredMessage::content)
                .containsExactly("remember me", "I will");
    }

    @Test
    void migrationRunsOnceAndIsRecorded() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:migrate-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        SessionStore one = JdbcSessionStore.builder(ds).tablePrefix("chat_").build();
        String id = one.create().id();
        SessionStore two = JdbcSessionStore.builder(ds).tablePrefix("chat_").build(); // a second instance starting

        assertThat(two.exists(id)).isTrue();
        try (Connection c = ds.getConnection();
                ResultSet rs =
                        c.createStatement().executeQuery("SELECT COUNT(*), MAX(version) FROM chat_schema_version")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(4);
            assertThat(rs.getInt(2)).isEqualTo(4);
        }
    }

    /** Migration 3 adds the size counter and fills it in for the sessions of an older schema. */
    @Test
    void theSizeOfSessionsFromBeforeTheCounterIsFilledIn() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:size-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        SessionStore old = JdbcSessionStore.builder(ds).build();
        String id = old.create().id();
        old.append(id, java.util.List.of(message("user", "h\u00e9llo"), message("assistant", "hi")));
        try (Connection c = ds.getConnection()) {
            // As version 2 left it: no counter yet (and no owner).
            c.createStatement().execute("ALTER TABLE openai_proxy_sessions DROP COLUMN total_bytes");
            c.createStatement().execute("ALTER TABLE openai_proxy_sessions DROP COLUMN owner_id");
            c.createStatement().execute("DELETE FROM openai_proxy_schema_version WHERE version >= 3");
        }

        SessionStore upgraded = JdbcSessionStore.builder(ds).build();

        assertThat(upgraded.size(id)).contains(6L + 2);
    }

    /** Migration 4 adds the owner: the sessions of an older schema stay unowned, new ones get their owner. */
    @Test
    void sessionsFromBeforeOwnersStayUnowned() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:owner-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        SessionStore old = JdbcSessionStore.builder(ds).build();
        String id = old.create().id();
        old.append(id, List.of(message("user", "from before")));
        try (Connection c = ds.getConnection()) {
            // As version 3 left it: no owner column yet.
            c.createStatement().execute("ALTER TABLE openai_proxy_sessions DROP COLUMN owner_id");
            c.createStatement().execute("DELETE FROM openai_proxy_schema_version WHERE version = 4");
        }

        SessionStore upgraded = JdbcSessionStore.builder(ds).build();

        assertThat(upgraded.find(id).orElseThrow().owner()).isEmpty();
        assertThat(upgraded.messages(id, 0, 10).orElseThrow().messages()).hasSize(1);
        String owned = upgraded.create("user:alice").id();
        assertThat(upgraded.find(owned).orElseThrow().ownerId()).isEqualTo("user:alice");
    }

    @Test
    void aDatabaseFailureIsAStoreException() {
        SessionStore broken = SessionStore.jdbc(dataSource("jdbc:h2:mem:broken-" + UUID.randomUUID()));
        // DB_CLOSE_DELAY is 0: the tables vanished with the migration's connection.
        org.assertj.core.api.Assertions.assertThatThrownBy(broken::create).isInstanceOf(SessionStoreException.class);
    }
}
