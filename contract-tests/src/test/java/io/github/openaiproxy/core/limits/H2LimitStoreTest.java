package io.github.openaiproxy.core.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.testkit.LimitStoreContract;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.awaitility.Awaitility;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The JDBC limit store on embedded H2 passes the kit; a second store on a second data source to the same
 * database is the second instance.
 */
class H2LimitStoreTest extends LimitStoreContract {
    private static final String URL = "jdbc:h2:mem:limits-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1";
    private static final JdbcLimitStore STORE = JdbcLimitStore.create(dataSource(URL));
    private static final JdbcLimitStore OTHER = JdbcLimitStore.create(dataSource(URL));

    @AfterAll
    static void close() {
        STORE.close();
        OTHER.close();
    }

    @Override
    protected LimitStore store() {
        return STORE;
    }

    @Override
    protected LimitStore secondInstance() {
        return OTHER;
    }

    @Override
    protected boolean remembersIds() {
        return true;
    }

    static JdbcDataSource dataSource(String url) {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL(url);
        ds.setUser("sa");
        ds.setPassword("");
        return ds;
    }

    @Test
    void theCleanUpDeletesEndedWindowsAndExpiredLeasesOnly() throws Exception {
        String url = "jdbc:h2:mem:limits-cleanup-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1";
        JdbcDataSource ds = dataSource(url);
        try (JdbcLimitStore store =
                JdbcLimitStore.builder(ds).cleanupEvery(Duration.ZERO).build()) {
            long t = System.currentTimeMillis();
            Counter rpm = perMinute("rpm", 10);
            Counter day = calendar("day", 10, Window.Period.DAY);
            Counter streams = leases("streams", 10, Duration.ofMinutes(1));
            for (int i = 0; i < 3; i++) {
                reserve(
                        store,
                        "s" + i,
                        t,
                        "lease-" + i,
                        new Charge(rpm, 1),
                        new Charge(day, 1),
                        new Charge(streams, 1));
            }
            assertThat(rows(ds, "openai_proxy_limit_counters")).isEqualTo(9);
            assertThat(rows(ds, "openai_proxy_limit_leases")).isEqualTo(3);

            // Within a minute after the windows ended nothing goes (clocks differ a little).
            assertThat(store.cleanup(t + 60_000 + 59_000)).isZero();
            // Then the minute's windows and the leases go; the day's counters stay until the day ends.
            assertThat(store.cleanup(t + 60_000 + 61_000)).isEqualTo(9);
            assertThat(rows(ds, "openai_proxy_limit_counters")).isEqualTo(3);
            assertThat(rows(ds, "openai_proxy_limit_leases")).isZero();
            assertThat(store.cleanup(Window.Period.DAY.nextAfter(t) + 61_000)).isEqualTo(3);
            assertThat(rows(ds, "openai_proxy_limit_counters")).isZero();
            // Counting starts again from nothing.
            assertThat(reserve(store, "s0", t + 1, "x", new Charge(rpm, 10)).admitted())
                    .isTrue();
        }
    }

    @Test
    void migrationRunsOnceAndTheStoreKeepsItsOwnNumbering() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:limits-migrate-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcLimitStore.create(ds).close();
        JdbcLimitStore.create(ds).close(); // a second instance starting
        try (Connection c = ds.getConnection()) {
            ResultSet rs = c.createStatement()
                    .executeQuery("SELECT COUNT(*), MAX(version) FROM openai_proxy_limits_schema_version");
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(2);
            assertThat(rs.getInt(2)).isEqualTo(2);
        }
    }

    @Test
    void aTablePrefixIsChecked() {
        assertThatThrownBy(() -> JdbcLimitStore.builder(dataSource(URL)).tablePrefix("x; DROP TABLE y"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aBrokenDatabaseFailsTheFutureWithALimitStoreException() {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:limits-broken-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        try (JdbcLimitStore store = JdbcLimitStore.create(ds)) {
            try (Connection c = ds.getConnection()) {
                c.createStatement().execute("DROP TABLE openai_proxy_limit_counters");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            assertThatThrownBy(() -> store.reserve(
                                    new Reservation("s", List.of(new Charge(perMinute("r", 1), 1)), null, 1))
                            .join())
                    .hasCauseInstanceOf(LimitStoreException.class);
        }
    }

    /**
     * A database that does not answer: callers beyond the store's queue are refused at once, those waiting fail
     * after the timeout, and what they asked is not charged when the database wakes up.
     */
    @Test
    void aStuckDatabaseFailsCallersInTimeAndChargesNothingLate() throws Exception {
        CountDownLatch wakeUp = new CountDownLatch(1);
        AtomicBoolean stuck = new AtomicBoolean();
        JdbcDataSource real = dataSource("jdbc:h2:mem:limits-stuck-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        // The real data source, whose getConnection() waits while the database is "stuck".
        DataSource ds = (DataSource) Proxy.newProxyInstance(
                DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
                    if (method.getName().equals("getConnection") && stuck.get()) {
                        wakeUp.await();
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        try (JdbcLimitStore store = JdbcLimitStore.builder(ds)
                .threads(1, 1)
                .timeout(Duration.ofMillis(300))
                .cleanupEvery(Duration.ZERO)
                .build()) {
            String s = newSubject();
            long t = soon();
            Counter rpm = perMinute("requests", 5);
            stuck.set(true);
            CompletableFuture<Admission> running =
                    store.reserve(new Reservation(s, List.of(new Charge(rpm, 1)), null, t));
            CompletableFuture<Admission> queued =
                    store.reserve(new Reservation(s, List.of(new Charge(rpm, 1)), null, t));
            CompletableFuture<Admission> refused =
                    store.reserve(new Reservation(s, List.of(new Charge(rpm, 1)), null, t));
            assertThat(refused).isCompletedExceptionally();
            assertThatThrownBy(refused::join).hasCauseInstanceOf(LimitStoreException.class);
            long started = System.nanoTime();
            assertThatThrownBy(running::join).hasCauseInstanceOf(LimitStoreException.class);
            assertThatThrownBy(queued::join).hasCauseInstanceOf(LimitStoreException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(2));

            stuck.set(false);
            wakeUp.countDown();
            // Once the one thread is free again (the woken work rolled back, the queued one dropped), the
            // counter holds nothing of the three.
            Awaitility.await()
                    .atMost(Duration.ofSeconds(10))
                    .ignoreExceptionsInstanceOf(java.util.concurrent.CompletionException.class)
                    .untilAsserted(() -> assertThat(reserve(store, s, t + 1, null, new Charge(rpm, 1))
                                    .states()
                                    .get(0)
                                    .used())
                            .isEqualTo(1));
        }
    }

    /**
     * The database committed, but the answer to the commit was lost (the connection broke): the store fails, the
     * caller keeps the settlement or the charge and sends it again once the store answers. It counts once.
     */
    @Test
    void aSettlementOrChargeWhoseCommitsAnswerWasLostCountsOnceWhenSentAgain() throws Exception {
        AtomicBoolean loseNextCommit = new AtomicBoolean();
        JdbcDataSource real = dataSource("jdbc:h2:mem:limits-lost-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        DataSource ds = (DataSource) Proxy.newProxyInstance(
                DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
                    Object made = invoke(real, method, args);
                    if (!method.getName().equals("getConnection")) {
                        return made;
                    }
                    Connection c = (Connection) made;
                    return Proxy.newProxyInstance(
                            Connection.class.getClassLoader(), new Class<?>[] {Connection.class}, (p, m, a) -> {
                                Object answer = invoke(c, m, a);
                                if (m.getName().equals("commit") && loseNextCommit.compareAndSet(true, false)) {
                                    throw new java.sql.SQLException("the connection broke", "08006");
                                }
                                return answer;
                            });
                });
        try (JdbcLimitStore store =
                JdbcLimitStore.builder(ds).cleanupEvery(Duration.ZERO).build()) {
            String s = newSubject();
            long t = soon();
            Counter tokens = perMinute("tokens", 1_000);
            Admission a = reserve(store, s, t, null, new Charge(tokens, 100));
            List<Adjustment> settlement =
                    List.of(new Adjustment(tokens, a.states().get(0).windowStartMillis(), -8, "req-1"));

            loseNextCommit.set(true);
            assertThatThrownBy(() -> store.adjust(s, settlement, t + 1).join())
                    .hasCauseInstanceOf(LimitStoreException.class);
            store.adjust(s, settlement, t + 2).join(); // the backlog's replay
            assertThat(reserve(store, s, t + 3, null, new Charge(tokens, 0))
                            .states()
                            .get(0)
                            .used())
                    .as("the settlement counted once")
                    .isEqualTo(92);

            loseNextCommit.set(true);
            assertThatThrownBy(() ->
                            store.count(s, new Charge(tokens, 50), "c-1", t + 4).join())
                    .hasCauseInstanceOf(LimitStoreException.class);
            store.count(s, new Charge(tokens, 50), "c-1", t + 5).join();
            assertThat(reserve(store, s, t + 6, null, new Charge(tokens, 0))
                            .states()
                            .get(0)
                            .used())
                    .as("the charge counted once")
                    .isEqualTo(142);

            // The marks go with the store's clean-up, the settlement's with its window, the charge's after ten minutes.
            assertThat(rows(real, "openai_proxy_limit_marks")).isEqualTo(2);
            assertThat(store.cleanup(t + 60_000 + 61_000)).isEqualTo(2); // the counter and the settlement's mark
            assertThat(rows(real, "openai_proxy_limit_marks")).isEqualTo(1);
            assertThat(store.cleanup(t + 600_000 + 61_000)).isEqualTo(1);
            assertThat(rows(real, "openai_proxy_limit_marks")).isZero();
        }
    }

    private static Object invoke(Object target, java.lang.reflect.Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    static long rows(JdbcDataSource ds, String table) throws Exception {
        try (Connection c = ds.getConnection();
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
