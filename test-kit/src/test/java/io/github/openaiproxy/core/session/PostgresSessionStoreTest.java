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
}
