package io.github.openaiproxy.core.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.testkit.JdbcSessionStoreContract;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The JDBC store on a real PostgreSQL server, named by {@code OPENAI_PROXY_TEST_PG_URL} (with
 * {@code OPENAI_PROXY_TEST_PG_USER} and {@code OPENAI_PROXY_TEST_PG_PASSWORD}). {@code .ci/run} starts one
 * and sets them; without them these tests are skipped. Each run uses tables of its own prefix and drops
 * them afterwards.
 */
class PostgresSessionStoreTest extends JdbcSessionStoreContract {
    static final String PREFIX = TestPostgres.newPrefix('t');
    static SessionStore store;

    @BeforeAll
    static void connect() {
        TestPostgres.requireOrSkip();
        store = JdbcSessionStore.builder(pgDataSource()).tablePrefix(PREFIX).build();
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (store == null) {
            return;
        }
        TestPostgres.dropTables(PREFIX, "messages", "sessions", "schema_version");
    }

    static javax.sql.DataSource pgDataSource() {
        return TestPostgres.dataSource();
    }

    @Override
    protected SessionStore store() {
        return store;
    }

    @Override
    protected DataSource dataSource() {
        return pgDataSource();
    }

    @Override
    protected String tablePrefix() {
        return PREFIX;
    }

    /** Two proxy instances, each with its own DataSource on one database, see each other's sessions. */
    @Test
    void twoInstancesShareSessionsAndOrder() throws Exception {
        SessionStore a =
                JdbcSessionStore.builder(pgDataSource()).tablePrefix(PREFIX).build();
        SessionStore b =
                JdbcSessionStore.builder(pgDataSource()).tablePrefix(PREFIX).build();
        Session s = a.create();
        assertThat(b.exists(s.id())).isTrue();

        ExecutorService pool = Executors.newFixedThreadPool(8);
        CountDownLatch go = new CountDownLatch(1);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                SessionStore instance = i % 2 == 0 ? a : b;
                int n = i;
                done.add(pool.submit(() -> {
                    go.await();
                    return instance.append(s.id(), List.of(message("user", "q" + n), message("assistant", "a" + n)));
                }));
            }
            go.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        List<StoredMessage> seenByA = a.messages(s.id(), 0, 100).orElseThrow().messages();
        List<StoredMessage> seenByB = b.messages(s.id(), 0, 100).orElseThrow().messages();
        assertThat(seenByA).hasSize(40).isEqualTo(seenByB);
        assertThat(seenByA).extracting(StoredMessage::sequence).containsExactlyElementsOf(sequence(1, 40));

        assertThat(b.delete(s.id())).isTrue();
        assertThat(a.exists(s.id())).isFalse();
    }

    /**
     * A failed append names what failed, never what the messages say: pgjdbc words a batch's failure as "Batch entry
     * 0 INSERT INTO ... VALUES (..., '<the message>', ...) was aborted", and the engine logs a store's failure with
     * its causes at ERROR, so a prompt reached the log whenever a turn could not be recorded (the database going
     * away mid-insert, a trigger, a NUL PostgreSQL refuses). Here a trigger refuses every insert.
     */
    @Test
    void aFailedAppendNeverQuotesTheMessagesInItsErrors() throws Exception {
        String prefix = TestPostgres.newPrefix('r');
        String secret = "a-private-prompt-" + java.util.UUID.randomUUID();
        SessionStore refusing =
                JdbcSessionStore.builder(pgDataSource()).tablePrefix(prefix).build();
        try (java.sql.Connection c = pgDataSource().getConnection();
                java.sql.Statement st = c.createStatement()) {
            st.execute("CREATE FUNCTION " + prefix + "refuse() RETURNS trigger AS $$ BEGIN"
                    + " RAISE EXCEPTION 'inserts refused by the test'; END $$ LANGUAGE plpgsql");
            st.execute("CREATE TRIGGER " + prefix + "refuse BEFORE INSERT ON " + prefix
                    + "messages FOR EACH ROW EXECUTE FUNCTION " + prefix + "refuse()");
        }
        try {
            Session s = refusing.create();
            Throwable failure = org.assertj.core.api.Assertions.catchThrowable(
                    () -> refusing.append(s.id(), List.of(message("user", secret), message("assistant", secret))));
            assertThat(failure).isInstanceOf(SessionStoreException.class);
            java.io.StringWriter logged = new java.io.StringWriter();
            failure.printStackTrace(new java.io.PrintWriter(logged)); // what a log line with the exception shows
            for (Throwable t = failure; t != null; t = t.getCause()) {
                if (t instanceof java.sql.SQLException e) {
                    for (java.sql.SQLException next = e.getNextException();
                            next != null;
                            next = next.getNextException()) {
                        logged.append('\n').append(next.toString());
                    }
                }
            }
            assertThat(logged.toString())
                    .as("the failure as logged")
                    .contains("inserts refused by the test")
                    .doesNotContain(secret);
        } finally {
            refusing.close();
            try (java.sql.Connection c = pgDataSource().getConnection();
                    java.sql.Statement st = c.createStatement()) {
                st.execute("DROP TABLE IF EXISTS " + prefix + "messages, " + prefix + "sessions, " + prefix
                        + "schema_version");
                st.execute("DROP FUNCTION IF EXISTS " + prefix + "refuse()");
            }
        }
    }
}
