package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.TcpForwarder;
import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.testkit.LimitStoreContract;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The JDBC limit store on a real PostgreSQL server (named by {@code OPENAI_PROXY_TEST_PG_URL}; required in CI)
 * passes the kit; a second store on a second data source to the same database is the second instance. Tables
 * of a prefix of their own, dropped afterwards.
 */
class PostgresLimitStoreTest extends LimitStoreContract {
    static final String PREFIX = TestPostgres.newPrefix('l');
    static JdbcLimitStore store;
    static JdbcLimitStore other;
    static List<com.zaxxer.hikari.HikariDataSource> pools = List.of();

    @BeforeAll
    static void connect() {
        TestPostgres.requireOrSkip();
        // Each instance on a pool of its own, as two applications would be.
        pools = List.of(TestPostgres.pool(), TestPostgres.pool());
        store = JdbcLimitStore.builder(pools.get(0)).tablePrefix(PREFIX).build();
        other = JdbcLimitStore.builder(pools.get(1)).tablePrefix(PREFIX).build();
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (store == null) {
            return;
        }
        store.close();
        other.close();
        pools.forEach(com.zaxxer.hikari.HikariDataSource::close);
        TestPostgres.dropTables(PREFIX, "limit_counters", "limit_leases", "limit_marks", "limits_schema_version");
    }

    @Override
    protected LimitStore store() {
        return store;
    }

    @Override
    protected LimitStore secondInstance() {
        return other;
    }

    @Override
    protected boolean remembersIds() {
        return true;
    }

    /** The clean-up's bounded deletes run on PostgreSQL too: ended windows and expired leases go. */
    @Test
    void theCleanUpDeletesWhatEnded() throws Exception {
        String s = newSubject();
        long t = System.currentTimeMillis();
        Counter rpm = perMinute("requests", 1);
        Counter streams = leases("streams", 1, Duration.ofMinutes(1));
        assertThat(reserve(store, s, t, "l1", new Charge(rpm, 1), new Charge(streams, 1))
                        .admitted())
                .isTrue();
        assertThat(store.cleanup(t + 60_000 + 61_000)).isGreaterThanOrEqualTo(3);
        // Counting starts again from nothing, and the lease is gone.
        assertThat(reserve(store, s, t + 1, "l2", new Charge(rpm, 1), new Charge(streams, 1))
                        .admitted())
                .isTrue();
    }

    /** Instances that start together on a fresh database all come up: the loser of a DDL race goes again. */
    @Test
    void eightStoresMigratingOneFreshSchemaAtOnceAllStart() throws Exception {
        String prefix = TestPostgres.newPrefix('m');
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        try {
            List<java.util.concurrent.Future<JdbcLimitStore>> started = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                started.add(pool.submit(() -> {
                    go.await();
                    return JdbcLimitStore.builder(TestPostgres.dataSource())
                            .tablePrefix(prefix)
                            .build();
                }));
            }
            go.countDown();
            for (java.util.concurrent.Future<JdbcLimitStore> f : started) {
                try (JdbcLimitStore s = f.get(60, TimeUnit.SECONDS)) {
                    assertThat(reserve(s, newSubject(), soon(), null, new Charge(perMinute("requests", 5), 1))
                                    .admitted())
                            .isTrue();
                }
            }
        } finally {
            pool.shutdownNow();
            TestPostgres.dropTables(prefix, "limit_counters", "limit_leases", "limit_marks", "limits_schema_version");
        }
    }

    /**
     * The database goes down in the middle of the test (every connection to it cut, new ones refused): a
     * reservation fails promptly with a {@link LimitStoreException}, and counting goes on where it stood once
     * the database is back.
     */
    @Test
    void whenTheDatabaseGoesDownReservationsFailPromptlyAndCountingResumesWhenItIsBack() throws Exception {
        PGSimpleDataSource direct = TestPostgres.dataSource();
        URI target = URI.create(direct.getUrl().substring("jdbc:".length()));
        try (TcpForwarder forwarder = new TcpForwarder(target.getPort())) {
            int port = forwarder.start();
            PGSimpleDataSource ds = TestPostgres.dataSource();
            ds.setUrl("jdbc:postgresql://127.0.0.1:" + port + target.getPath());
            ds.setConnectTimeout(1);
            ds.setSocketTimeout(2);
            try (JdbcLimitStore down = JdbcLimitStore.builder(ds)
                    .tablePrefix(PREFIX)
                    .timeout(Duration.ofSeconds(2))
                    .build()) {
                String s = newSubject();
                long t = soon();
                Counter rpm = perMinute("requests", 3);
                assertThat(reserve(down, s, t, null, new Charge(rpm, 1)).admitted())
                        .isTrue();

                forwarder.stop();
                long started = System.nanoTime();
                assertThatThrownBy(() -> down.reserve(new Reservation(s, List.of(new Charge(rpm, 1)), null, t + 1))
                                .join())
                        .isInstanceOf(CompletionException.class)
                        .hasCauseInstanceOf(LimitStoreException.class);
                assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(3));
                assertThatThrownBy(() -> down.adjust(s, List.of(new Adjustment(rpm, t, -1)), t + 1)
                                .get(5, TimeUnit.SECONDS))
                        .hasCauseInstanceOf(LimitStoreException.class);

                forwarder.start();
                Admission back = reserve(down, s, t + 2, null, new Charge(rpm, 1));
                assertThat(back.admitted()).isTrue();
                assertThat(back.states().get(0).used()).isEqualTo(2);
                assertThat(reserve(down, s, t + 3, null, new Charge(rpm, 2)).admitted())
                        .isFalse();
            }
        }
    }
}
