package io.github.openaiproxy.core.limits;

import io.github.openaiproxy.core.internal.DaemonThreads;
import io.github.openaiproxy.core.internal.JdbcMigrations;
import io.github.openaiproxy.core.internal.TablePrefix;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.sql.DataSource;

/**
 * Limit counters in a database (H2 or PostgreSQL) through any {@link DataSource}: every instance on the database
 * counts in the same rows, so a limit is exact across instances.
 *
 * <p>Tables: {@code <prefix>limit_counters}, one row per subject and counter name (the subject is stored as its
 * SHA-256, the window's start and end as epoch milliseconds of the callers' clocks), and
 * {@code <prefix>limit_leases}, one row per concurrency lease held, with its expiry. A reservation is one
 * transaction: it locks the subject's counter rows with {@code SELECT ... FOR UPDATE} in the order of their
 * names (two reservations never wait on each other in a circle), checks every charge, applies them all or none,
 * and commits. A counter row missing is inserted first (a concurrent insert of the same row is caught by a
 * savepoint and the row locked after all).
 *
 * <p>{@code <prefix>limit_marks} remembers, for ten minutes at most, the named settlements ({@link
 * Adjustment#settlementId}) and charges ({@link #count}) applied, each as a row written in the transaction that
 * applied it: the database may commit one whose answer is lost (the connection breaks, the answer comes after the
 * timeout), and the caller keeps it and sends it again once the store answers, which then finds the row and applies
 * nothing. A settlement is remembered whole, so one is sent again with all its adjustments (the backlog does). A
 * reservation needs no row: the store never makes one again (it runs a transaction again only after the database
 * rolled it back), and the limit step sends none again.
 *
 * <p>JDBC blocks: the work runs on a small bounded pool of the store's own threads, never the caller's. When
 * the pool's queue is full, the database fails or an answer takes longer than the timeout, the future fails
 * with {@link LimitStoreException}. A clean-up on its own thread deletes, in bounded batches, counter rows whose
 * window ended and leases that expired.
 */
public final class JdbcLimitStore implements LimitStore {
    /** The default table name prefix, the session store's. */
    public static final String DEFAULT_PREFIX = "openai_proxy_";

    private static final System.Logger LOG = System.getLogger(JdbcLimitStore.class.getName());
    /** Rows of ended windows are kept this much longer: clocks of instances differ a little. */
    private static final long GRACE_MILLIS = 60_000;
    /** How long a settlement or charge applied is remembered: its copy comes once the store answers again. */
    private static final long MARK_MILLIS = Duration.ofMinutes(10).toMillis();
    /** Rows deleted per clean-up statement batch, and batches per run: the clean-up never holds the database. */
    private static final int CLEANUP_BATCH = 500;

    private static final int CLEANUP_BATCHES = 10;

    private final DataSource dataSource;
    private final Clock clock;
    private final String counters;
    private final String leases;
    private final String marks;
    private final StoreDeadlines deadlines;
    private final ThreadPoolExecutor threads;
    private final ScheduledThreadPoolExecutor cleaner;

    private JdbcLimitStore(Builder b) {
        this.dataSource = b.dataSource;
        this.clock = b.clock;
        this.counters = b.prefix + "limit_counters";
        this.leases = b.prefix + "limit_leases";
        this.marks = b.prefix + "limit_marks";
        this.deadlines = new StoreDeadlines(b.timeout);
        this.threads = new ThreadPoolExecutor(
                b.threads,
                b.threads,
                0,
                TimeUnit.MILLISECONDS,
                new ArrayBlockingQueue<>(b.queueSize),
                DaemonThreads.numbered("openai-proxy-limits-jdbc-"),
                new ThreadPoolExecutor.AbortPolicy());
        if (b.cleanupEvery.isZero()) {
            this.cleaner = null;
        } else {
            this.cleaner = new ScheduledThreadPoolExecutor(1, DaemonThreads.numbered("openai-proxy-limits-cleanup-"));
            long every = b.cleanupEvery.toMillis();
            cleaner.scheduleWithFixedDelay(this::cleanupQuietly, every, every, TimeUnit.MILLISECONDS);
        }
    }

    /** A store on {@code dataSource} (which it never closes) with the defaults; creates or migrates its tables. */
    public static JdbcLimitStore create(DataSource dataSource) {
        return builder(dataSource).build();
    }

    /** A builder for a store on {@code dataSource}, which the store never closes. */
    public static Builder builder(DataSource dataSource) {
        return new Builder(dataSource);
    }

    /** The store's settings; {@link #build()} migrates the schema. */
    public static final class Builder {
        private final DataSource dataSource;
        private String prefix = DEFAULT_PREFIX;
        private Clock clock = Clock.systemUTC();
        private int threads = 4;
        private int queueSize = 1_000;
        private Duration timeout = Duration.ofSeconds(2);
        private Duration cleanupEvery = Duration.ofMinutes(1);

        private Builder(DataSource dataSource) {
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        }

        /** Table names begin with this (lower case letters, digits and {@code _}); default {@code openai_proxy_}. */
        public Builder tablePrefix(String prefix) {
            TablePrefix.check(prefix);
            this.prefix = prefix;
            return this;
        }

        /** The clock of the clean-up and of the schema's {@code applied_at}; windows use the callers' clocks. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /** Threads that talk to the database (default 4) and calls that may wait for one (default 1000). */
        public Builder threads(int threads, int queueSize) {
            if (threads < 1 || queueSize < 1) {
                throw new IllegalArgumentException("threads and queue size must be positive");
            }
            this.threads = threads;
            this.queueSize = queueSize;
            return this;
        }

        /** How long a caller waits for an answer before the future fails (default 2 s). */
        public Builder timeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout must be positive: " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /** How often ended windows and expired leases are deleted (default every minute; zero: never). */
        public Builder cleanupEvery(Duration every) {
            if (every.isNegative()) {
                throw new IllegalArgumentException("clean-up interval must not be negative: " + every);
            }
            this.cleanupEvery = every;
            return this;
        }

        /** Creates or migrates the tables and starts the store's threads. */
        public JdbcLimitStore build() {
            try {
                new JdbcMigrations(prefix + "limits_schema_version", "limits", clock)
                        .migrate(
                                dataSource,
                                migrations(prefix + "limit_counters", prefix + "limit_leases", prefix + "limit_marks"));
            } catch (SQLException e) {
                throw new LimitStoreException("could not create or migrate the limit tables", e);
            }
            return new JdbcLimitStore(this);
        }
    }

    /** The migrations, in order; version i+1 is {@code migrations(..).get(i)}. Never edit one: add one. */
    private static List<List<String>> migrations(String counters, String leases, String marks) {
        return List.of(
                List.of(
                        "CREATE TABLE IF NOT EXISTS " + counters + " (subject VARCHAR(64) NOT NULL,"
                                + " counter VARCHAR(101) NOT NULL,"
                                + " spec VARCHAR(24) NOT NULL,"
                                + " used BIGINT NOT NULL,"
                                + " window_start BIGINT NOT NULL,"
                                + " window_end BIGINT NOT NULL,"
                                + " PRIMARY KEY (subject, counter))",
                        "CREATE INDEX IF NOT EXISTS " + counters + "_end ON " + counters + " (window_end)",
                        "CREATE TABLE IF NOT EXISTS " + leases + " (subject VARCHAR(64) NOT NULL,"
                                + " counter VARCHAR(101) NOT NULL,"
                                + " lease_id VARCHAR(101) NOT NULL,"
                                + " expires_at BIGINT NOT NULL,"
                                + " PRIMARY KEY (subject, counter, lease_id))",
                        "CREATE INDEX IF NOT EXISTS " + leases + "_expiry ON " + leases + " (expires_at)"),
                List.of(
                        "CREATE TABLE IF NOT EXISTS " + marks + " (subject VARCHAR(64) NOT NULL,"
                                + " mark VARCHAR(110) NOT NULL,"
                                + " expires_at BIGINT NOT NULL,"
                                + " PRIMARY KEY (subject, mark))",
                        "CREATE INDEX IF NOT EXISTS " + marks + "_expiry ON " + marks + " (expires_at)"));
    }

    @Override
    public CompletableFuture<Admission> reserve(Reservation reservation) {
        return submit("reserve", c -> reserve(c, reservation));
    }

    @Override
    public CompletableFuture<Void> adjust(String subject, List<Adjustment> adjustments, long nowMillis) {
        List<Adjustment> settled = new ArrayList<>(adjustments.size());
        for (Adjustment a : adjustments) {
            Window w = a.counter().window();
            // Leases are given back, not settled; a calendar window that ended is left alone.
            boolean current = !(w instanceof Window.Lease)
                    && !(w instanceof Window.Calendar cal && cal.period().startOf(nowMillis) > a.windowStartMillis());
            if (current && a.delta() != 0) {
                settled.add(a);
            }
        }
        if (settled.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        return submit("adjust", c -> {
            adjust(c, LimitKeys.subject(subject), settled, nowMillis);
            return null;
        });
    }

    /** One transaction: the charge's mark, then the charge in its current window with no limit. */
    @Override
    public CompletableFuture<Void> count(String subject, Charge charge, String chargeId, long nowMillis) {
        Counter counter = charge.counter();
        if (counter.window() instanceof Window.Lease || charge.amount() == 0) {
            return CompletableFuture.completedFuture(null);
        }
        Reservation unlimited = new Reservation(
                subject,
                List.of(new Charge(new Counter(counter.name(), Long.MAX_VALUE, counter.window()), charge.amount())),
                null,
                nowMillis);
        return submit("count", c -> {
            if (chargeId == null || mark(c, LimitKeys.subject(subject), "c:" + chargeId, nowMillis + MARK_MILLIS)) {
                reserve(c, unlimited);
            }
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> release(String subject, Counter counter, String leaseId) {
        return submit("release", c -> {
            try (PreparedStatement p = c.prepareStatement(
                    "DELETE FROM " + leases + " WHERE subject = ? AND counter = ? AND lease_id = ?")) {
                p.setString(1, LimitKeys.subject(subject));
                p.setString(2, LimitKeys.counter(counter.name()));
                p.setString(3, LimitKeys.lease(leaseId));
                p.executeUpdate();
            }
            return null;
        });
    }

    @Override
    public String kind() {
        return "jdbc";
    }

    /** Stops the store's threads; the data source is the application's and stays open. */
    @Override
    public void close() {
        threads.shutdown();
        if (cleaner != null) {
            cleaner.shutdownNow();
        }
    }

    private interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /**
     * Runs {@code work} on the store's threads, in a transaction (run again, up to three times, when the database
     * chose it as a deadlock's victim); the answer fails after the timeout.
     */
    private <T> CompletableFuture<T> submit(String what, Work<T> work) {
        CompletableFuture<T> answer = new CompletableFuture<>();
        try {
            threads.execute(() -> {
                if (answer.isDone()) {
                    return; // the caller stopped waiting while this waited in the queue
                }
                try {
                    answer.complete(inTransaction(work, answer));
                } catch (SQLException | RuntimeException e) {
                    answer.completeExceptionally(new LimitStoreException("the limit store could not " + what, e));
                }
            });
        } catch (RejectedExecutionException e) {
            answer.completeExceptionally(new LimitStoreException("the limit store is busy: " + what + " refused", e));
            return answer;
        }
        CompletableFuture<T> timed = new CompletableFuture<>();
        deadlines.timed(answer).whenComplete((v, e) -> {
            if (e == null) {
                timed.complete(v);
            } else {
                Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                timed.completeExceptionally(
                        cause instanceof TimeoutException
                                ? new LimitStoreException("the limit store did not answer in time: " + what, cause)
                                : cause);
            }
        });
        return timed;
    }

    /**
     * Runs {@code work} in a transaction, committed unless {@code answer} is already done: a caller told that the
     * store did not answer in time must not find its reservation charged after all.
     */
    private <T> T inTransaction(Work<T> work, CompletableFuture<T> answer) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try {
                    T result = work.run(c);
                    if (answer.isDone()) {
                        throw new SQLException("the caller stopped waiting: rolled back");
                    }
                    c.commit();
                    return result;
                } catch (SQLException | RuntimeException e) {
                    rollback(c);
                    // 40001 serialization failure, 40P01 deadlock: the transaction may simply run again.
                    if (attempt < 3
                            && e instanceof SQLException s
                            && s.getSQLState() != null
                            && s.getSQLState().startsWith("40")) {
                        continue;
                    }
                    throw e;
                } finally {
                    restoreAutoCommit(c);
                }
            }
        }
    }

    private static void restoreAutoCommit(Connection c) {
        try {
            c.setAutoCommit(true); // a pooled connection goes back as it came
        } catch (SQLException e) {
            // broken: the pool will find out
        }
    }

    private static void rollback(Connection c) {
        try {
            c.rollback();
        } catch (SQLException e) {
            // the connection is broken: closing it is all that is left
        }
    }

    /** A counter row, as locked. */
    private record Row(String spec, long used, long start, long end) {}

    private Admission reserve(Connection c, Reservation r) throws SQLException {
        List<Charge> charges = r.charges();
        int n = charges.size();
        if (n == 0) {
            return new Admission(true, -1, List.of());
        }
        long now = r.nowMillis();
        String subject = LimitKeys.subject(r.subject());
        String lease = LimitKeys.lease(r.leaseId());
        String[] names = new String[n];
        for (int i = 0; i < n; i++) {
            names[i] = LimitKeys.counter(charges.get(i).counter().name());
        }
        Map<String, Row> rows = lock(c, subject, names, true);

        long[] used = new long[n];
        long[] start = new long[n];
        long[] end = new long[n];
        int refused = -1;
        for (int i = 0; i < n; i++) {
            Charge charge = charges.get(i);
            Counter counter = charge.counter();
            Row row = rows.get(names[i]);
            String spec = LimitKeys.spec(counter.window());
            boolean sameWindow = row.spec().equals(spec);
            if (counter.window() instanceof Window.Rolling rolling) {
                boolean current = sameWindow && now < row.end();
                used[i] = current ? row.used() : 0;
                start[i] = current ? row.start() : now;
                end[i] = start[i] + rolling.length().toMillis();
            } else if (counter.window() instanceof Window.Calendar cal) {
                start[i] = cal.period().startOf(now);
                end[i] = cal.period().nextAfter(now);
                used[i] = sameWindow && row.start() == start[i] ? row.used() : 0;
                if (sameWindow && row.start() > start[i] && row.start() <= end[i]) {
                    // Never back to an earlier window: an instance whose clock is behind counts in the one begun.
                    // Only in the next one: a window further on was begun by a broken clock, and would hold a
                    // spent budget until it ends.
                    start[i] = row.start();
                    end[i] = row.end();
                    used[i] = row.used();
                }
            } else {
                countLeases(c, subject, names[i], now, used, end, i);
            }
            if (refused < 0 && charge.amount() > counter.limit() - used[i]) {
                refused = i;
            }
        }
        if (refused < 0) {
            charge(c, subject, names, charges, lease, rows, now, used, start, end);
        }
        List<Admission.CounterState> states = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            states.add(new Admission.CounterState(used[i], start[i], end[i]));
        }
        return new Admission(refused < 0, refused, states);
    }

    /** The leases held on the counter, and the first to expire. */
    private void countLeases(Connection c, String subject, String counter, long now, long[] used, long[] end, int i)
            throws SQLException {
        try (PreparedStatement p = c.prepareStatement("SELECT COUNT(*), MIN(expires_at) FROM " + leases
                + " WHERE subject = ? AND counter = ? AND expires_at > ?")) {
            p.setString(1, subject);
            p.setString(2, counter);
            p.setLong(3, now);
            try (ResultSet rs = p.executeQuery()) {
                rs.next();
                used[i] = rs.getLong(1);
                long first = rs.getLong(2);
                end[i] = rs.wasNull() ? now : first;
            }
        }
    }

    private void charge(
            Connection c,
            String subject,
            String[] names,
            List<Charge> charges,
            String lease,
            Map<String, Row> rows,
            long now,
            long[] used,
            long[] start,
            long[] end)
            throws SQLException {
        try (PreparedStatement update = c.prepareStatement("UPDATE " + counters
                + " SET spec = ?, used = ?, window_start = ?, window_end = ? WHERE subject = ? AND counter = ?")) {
            for (int i = 0; i < names.length; i++) {
                Charge charge = charges.get(i);
                Window w = charge.counter().window();
                long rowEnd;
                if (w instanceof Window.Lease l) {
                    if (charge.amount() == 0) {
                        continue;
                    }
                    long expiry = now + l.maxHold().toMillis();
                    takeLease(c, subject, names[i], lease, expiry);
                    // Counted again: taking a lease id already held replaces it.
                    countLeases(c, subject, names[i], now, used, end, i);
                    // The lease counter's row lives as long as its last lease (the clean-up's measure).
                    rowEnd = Math.max(rows.get(names[i]).end(), expiry);
                } else {
                    used[i] += charge.amount();
                    rowEnd = end[i];
                }
                update.setString(1, LimitKeys.spec(w));
                update.setLong(2, used[i]);
                update.setLong(3, start[i]);
                update.setLong(4, rowEnd);
                update.setString(5, subject);
                update.setString(6, names[i]);
                update.addBatch();
            }
            update.executeBatch();
        }
    }

    private void takeLease(Connection c, String subject, String counter, String lease, long expiry)
            throws SQLException {
        try (PreparedStatement delete = c.prepareStatement(
                        "DELETE FROM " + leases + " WHERE subject = ? AND counter = ? AND lease_id = ?");
                PreparedStatement insert = c.prepareStatement(
                        "INSERT INTO " + leases + " (subject, counter, lease_id, expires_at) VALUES (?, ?, ?, ?)")) {
            delete.setString(1, subject);
            delete.setString(2, counter);
            delete.setString(3, lease);
            delete.executeUpdate();
            insert.setString(1, subject);
            insert.setString(2, counter);
            insert.setString(3, lease);
            insert.setLong(4, expiry);
            insert.executeUpdate();
        }
    }

    /**
     * Locks the subject's rows of {@code names}, in the order of their names, inserting those missing first when
     * {@code create}; answers them by name.
     */
    private Map<String, Row> lock(Connection c, String subject, String[] names, boolean create) throws SQLException {
        TreeSet<String> sorted = new TreeSet<>(Arrays.asList(names));
        Map<String, Row> rows = select(c, subject, sorted);
        if (!create || rows.size() == sorted.size()) {
            return rows;
        }
        try (PreparedStatement insert = c.prepareStatement("INSERT INTO " + counters
                + " (subject, counter, spec, used, window_start, window_end) VALUES (?, ?, '', 0, 0, 0)")) {
            for (String name : sorted) {
                if (rows.containsKey(name)) {
                    continue;
                }
                Savepoint before = c.setSavepoint();
                try {
                    insert.setString(1, subject);
                    insert.setString(2, name);
                    insert.executeUpdate();
                    c.releaseSavepoint(before);
                } catch (SQLException e) {
                    // Another instance inserted it meanwhile: it is there to lock now.
                    c.rollback(before);
                }
            }
        }
        rows = select(c, subject, sorted);
        if (rows.size() != sorted.size()) {
            throw new SQLException("limit counter rows could not be created");
        }
        return rows;
    }

    private Map<String, Row> select(Connection c, String subject, TreeSet<String> names) throws SQLException {
        StringBuilder sql = new StringBuilder("SELECT counter, spec, used, window_start, window_end FROM ")
                .append(counters)
                .append(" WHERE subject = ? AND counter IN (");
        for (int i = 0; i < names.size(); i++) {
            sql.append(i == 0 ? "?" : ", ?");
        }
        sql.append(") ORDER BY counter FOR UPDATE");
        Map<String, Row> rows = new HashMap<>();
        try (PreparedStatement p = c.prepareStatement(sql.toString())) {
            p.setString(1, subject);
            int i = 2;
            for (String name : names) {
                p.setString(i++, name);
            }
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    rows.put(rs.getString(1), new Row(rs.getString(2), rs.getLong(3), rs.getLong(4), rs.getLong(5)));
                }
            }
        }
        return rows;
    }

    private void adjust(Connection c, String subject, List<Adjustment> adjustments, long now) throws SQLException {
        String[] names = new String[adjustments.size()];
        for (int i = 0; i < names.length; i++) {
            names[i] = LimitKeys.counter(adjustments.get(i).counter().name());
        }
        Map<String, Row> rows = lock(c, subject, names, false);
        // Only the window the reservation was made in, and only while it lasts.
        boolean[] current = new boolean[names.length];
        for (int i = 0; i < names.length; i++) {
            Adjustment a = adjustments.get(i);
            Row row = rows.get(names[i]);
            current[i] = row != null
                    && row.spec().equals(LimitKeys.spec(a.counter().window()))
                    && row.start() == a.windowStartMillis()
                    && now < row.end();
        }
        // A named settlement with something to apply: marked, under the rows' locks, or skipped when it was already.
        Map<String, Boolean> first = new HashMap<>(2);
        for (int i = 0; i < names.length; i++) {
            String id = adjustments.get(i).settlementId();
            if (current[i] && id != null && !first.containsKey(id)) {
                long end = now;
                for (int j = i; j < names.length; j++) {
                    if (current[j] && id.equals(adjustments.get(j).settlementId())) {
                        end = Math.max(end, rows.get(names[j]).end());
                    }
                }
                first.put(id, mark(c, subject, "s:" + id, Math.min(end, now + MARK_MILLIS)));
            }
        }
        try (PreparedStatement update =
                c.prepareStatement("UPDATE " + counters + " SET used = ? WHERE subject = ? AND counter = ?")) {
            for (int i = 0; i < names.length; i++) {
                Adjustment a = adjustments.get(i);
                Row row = rows.get(names[i]);
                if (!current[i] || (a.settlementId() != null && !first.get(a.settlementId()))) {
                    continue;
                }
                long settled = MemoryLimitStore.settle(row.used(), a.delta());
                rows.put(names[i], new Row(row.spec(), settled, row.start(), row.end()));
                update.setLong(1, settled);
                update.setString(2, subject);
                update.setString(3, names[i]);
                update.addBatch();
            }
            update.executeBatch();
        }
    }

    /**
     * Writes the mark {@code mark} (a settlement's or a charge's, by its id) of {@code subject}, kept until {@code
     * expiresAt}; answers whether it is new, false when the store applied the same already. One statement: the
     * common case, a mark never written, costs the insert alone.
     */
    private boolean mark(Connection c, String subject, String mark, long expiresAt) throws SQLException {
        String stored = mark.substring(0, 2) + LimitKeys.lease(mark.substring(2));
        try (PreparedStatement insert = c.prepareStatement("INSERT INTO " + marks
                + " (subject, mark, expires_at) SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM " + marks
                + " WHERE subject = ? AND mark = ?)")) {
            insert.setString(1, subject);
            insert.setString(2, stored);
            insert.setLong(3, expiresAt);
            insert.setString(4, subject);
            insert.setString(5, stored);
            return insert.executeUpdate() == 1;
        }
    }

    /**
     * Deletes, in bounded batches, counter rows whose window ended and leases that expired, and the marks of
     * settlements and charges that expired, as of {@code nowMillis} less a minute's grace; answers how many rows
     * went. Each counter and lease row is deleted by its own statement, so the clean-up never holds two rows a
     * reservation may be waiting for; the marks, which nobody waits for, go in one.
     */
    public int cleanup(long nowMillis) throws SQLException {
        long before = nowMillis - GRACE_MILLIS;
        int deleted = 0;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            deleted += delete(
                    c,
                    "SELECT subject, counter FROM " + counters + " WHERE window_end < ?",
                    "DELETE FROM " + counters + " WHERE subject = ? AND counter = ? AND window_end < ?",
                    2,
                    before);
            deleted += delete(
                    c,
                    "SELECT subject, counter, lease_id FROM " + leases + " WHERE expires_at < ?",
                    "DELETE FROM " + leases + " WHERE subject = ? AND counter = ? AND lease_id = ? AND expires_at < ?",
                    3,
                    before);
            // Nobody waits for a mark: one statement for all those expired.
            try (PreparedStatement p = c.prepareStatement("DELETE FROM " + marks + " WHERE expires_at < ?")) {
                p.setLong(1, before);
                deleted += p.executeUpdate();
            }
        }
        return deleted;
    }

    private static int delete(Connection c, String select, String delete, int keys, long before) throws SQLException {
        int deleted = 0;
        for (int batch = 0; batch < CLEANUP_BATCHES; batch++) {
            List<String[]> found = new ArrayList<>();
            try (PreparedStatement p = c.prepareStatement(select + " FETCH FIRST " + CLEANUP_BATCH + " ROWS ONLY")) {
                p.setLong(1, before);
                try (ResultSet rs = p.executeQuery()) {
                    while (rs.next()) {
                        String[] key = new String[keys];
                        for (int k = 0; k < keys; k++) {
                            key[k] = rs.getString(k + 1);
                        }
                        found.add(key);
                    }
                }
            }
            try (PreparedStatement p = c.prepareStatement(delete)) {
                for (String[] key : found) {
                    for (int k = 0; k < keys; k++) {
                        p.setString(k + 1, key[k]);
                    }
                    // The window may have begun again since the select: the condition is checked again.
                    p.setLong(keys + 1, before);
                    deleted += p.executeUpdate();
                }
            }
            if (found.size() < CLEANUP_BATCH) {
                break;
            }
        }
        return deleted;
    }

    private void cleanupQuietly() {
        try {
            int deleted = cleanup(clock.millis());
            if (deleted > 0) {
                LOG.log(System.Logger.Level.DEBUG, "limit store clean-up deleted {0} rows", deleted);
            }
        } catch (SQLException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "limit store clean-up failed: {0}", e.toString());
        }
    }
}
