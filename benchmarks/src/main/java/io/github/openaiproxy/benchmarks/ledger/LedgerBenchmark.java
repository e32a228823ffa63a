package io.github.openaiproxy.benchmarks.ledger;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.JdbcUsageStore;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.core.usage.ledger.UsageSummary;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The usage ledger on a real PostgreSQL server: fills it with {@code rows} records (default 1,000,000) spread over
 * {@code keys} keys (1,000) and {@code days} days (35), written by the {@link BatchingUsageLedger} itself (its
 * writer's records per second), then measures the 30-day per-key summary ({@code by=model}, one random key each
 * time: the admin API's and the command line's query) and two others, p50 / p99 / max over {@code queries}
 * queries after a warm-up. Not a test: run it by hand against a server.
 *
 * <pre>
 * OPENAI_PROXY_TEST_PG_URL=jdbc:postgresql://127.0.0.1:5432/db OPENAI_PROXY_TEST_PG_USER=u OPENAI_PROXY_TEST_PG_PASSWORD=p \
 *   java -cp benchmarks/target/openai-proxy-benchmarks.jar io.github.openaiproxy.benchmarks.ledger.LedgerBenchmark \
 *   [rows=1000000] [keys=1000] [days=35] [queries=1000] [batch=500] [keep=false] [ordered=false]
 * </pre>
 *
 * ({@code -Dledger.pg.url=...} instead of the variable works too.) The tables are {@code bench_ledger_*}, dropped
 * before and, unless {@code keep=true}, after.
 */
public final class LedgerBenchmark {
    private static final String PREFIX = "bench_ledger_";
    /** The benchmark's connections' application name: how its PostgreSQL backends are told from others. */
    private static final String APP = "ledger-bench";

    private static final String[] MODELS = {"gpt-4o", "gpt-4o-mini", "o3-mini", "gpt-4.1", "text-embedding-3-small"};
    private static final String[] POLICIES = {"keys", "premium", "batch"};

    private LedgerBenchmark() {}

    public static void main(String[] args) throws Exception {
        int rows = arg(args, "rows", 1_000_000);
        int keys = arg(args, "keys", 1000);
        int days = arg(args, "days", 35);
        int queries = arg(args, "queries", 1000);
        int batch = arg(args, "batch", 500);
        boolean keep = Arrays.asList(args).contains("keep=true");
        // ordered=true: the records come in time order, as a proxy records them (its rows' times are arrival
        // times), so every index grows at its end; by default the times are random over the days, which costs
        // PostgreSQL about twice the CPU per row (inserts all over its indexes).
        boolean ordered = Arrays.asList(args).contains("ordered=true");
        String url = System.getProperty("ledger.pg.url", System.getenv("OPENAI_PROXY_TEST_PG_URL"));
        if (url == null || url.isBlank()) {
            System.err.println("set OPENAI_PROXY_TEST_PG_URL (or -Dledger.pg.url) to a PostgreSQL server");
            System.exit(2);
        }
        HikariConfig hikari = new HikariConfig();
        hikari.setJdbcUrl(url);
        hikari.setUsername(System.getProperty("ledger.pg.user", System.getenv("OPENAI_PROXY_TEST_PG_USER")));
        hikari.setPassword(System.getProperty("ledger.pg.password", System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD")));
        hikari.setMaximumPoolSize(4);
        hikari.setMinimumIdle(4);
        hikari.addDataSourceProperty("ApplicationName", APP);
        try (HikariDataSource ds = new HikariDataSource(hikari)) {
            drop(ds);
            Clock clock = Clock.systemUTC();
            JdbcUsageStore store = JdbcUsageStore.create(ds, PREFIX, clock);
            System.out.printf(
                    "PostgreSQL %s; %,d rows over %,d keys and %d days (%s), batches of %d%n",
                    version(ds), rows, keys, days, ordered ? "in time order" : "random times", batch);

            // 1. The writer: the ledger's own thread, bounded queue; the producer backs off rather than overflow,
            // so what is measured is the writer's sustained rate.
            LedgerConfig config = LedgerConfig.DEFAULTS
                    .withStore(LedgerConfig.Store.JDBC)
                    .withBatchSize(batch)
                    .withRetention(Duration.ofDays(3650));
            BatchingUsageLedger ledger = BatchingUsageLedger.start(store, config, clock);
            SplittableRandom random = new SplittableRandom(42);
            Instant now = clock.instant();
            CpuMeter cpu = CpuMeter.start(ds, APP);
            long start = System.nanoTime();
            for (int i = 0; i < rows; i++) {
                while (ledger.queued() >= config.queueSize() - 1) {
                    Thread.onSpinWait();
                }
                Instant at = ordered
                        ? now.minusSeconds((long) days * 86_400).plusMillis((long) days * 86_400_000L * i / rows)
                        : now.minusSeconds(random.nextLong((long) days * 86_400));
                ledger.record(record(random, at, keys));
            }
            // Everything written (before close(), while the writer thread still lives): its CPU time is read.
            while (ledger.written() + ledger.failed() < rows) {
                Thread.sleep(1);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            cpu.report(ledger.written());
            ledger.close(Duration.ofMinutes(10));
            System.out.printf(
                    "writer: %,d records in %.1f s = %,.0f records/s (%,d batches, dropped %d, failed %d)%n",
                    ledger.written(),
                    seconds,
                    ledger.written() / seconds,
                    ledger.batches(),
                    ledger.dropped(),
                    ledger.failed());
            analyze(ds);
            System.out.printf(
                    "tables: %,d raw rows, %,d daily rows%n",
                    count(ds, store.rawTable()), count(ds, store.dailyTable()));

            // 2. The queries.
            measure(
                    "30-day summary of one key, by model",
                    queries,
                    i -> UsageQuery.of(now.minus(Duration.ofDays(30)), now, UsageQuery.By.MODEL)
                            .withKeyId("key_" + new SplittableRandom(i).nextInt(keys)),
                    store);
            measure(
                    "30-day summary of one key, by day",
                    queries,
                    i -> UsageQuery.of(now.minus(Duration.ofDays(30)), now, UsageQuery.By.DAY)
                            .withKeyId("key_" + new SplittableRandom(i).nextInt(keys)),
                    store);
            measure(
                    "30-day summary of every key, by key (top 1000)",
                    Math.max(10, queries / 20),
                    i -> UsageQuery.of(now.minus(Duration.ofDays(30)), now, UsageQuery.By.KEY),
                    store);
            measure(
                    "7-day summary of everything, by model",
                    Math.max(10, queries / 20),
                    i -> UsageQuery.of(now.minus(Duration.ofDays(7)), now, UsageQuery.By.MODEL),
                    store);
            if (!keep) {
                drop(ds);
            }
        }
    }

    private static UsageRecord record(SplittableRandom random, Instant at, int keys) {
        int key = random.nextInt(keys);
        String model = MODELS[random.nextInt(MODELS.length)];
        long in = random.nextInt(4000);
        long out = random.nextInt(1000);
        return new UsageRecord(
                at,
                "PROXY_KEY",
                "key_" + key,
                "key_" + key,
                "team-" + (key % 50),
                POLICIES[key % POLICIES.length],
                "/v1/chat/completions",
                model,
                model + "-2025-01-01",
                "openai",
                200,
                200,
                new TokenUsage(in, in / 3, out, out / 5, 0),
                (in * 2500 + out * 10_000),
                random.nextInt(100) == 0,
                random.nextBoolean(),
                UsageRecord.Outcome.COMPLETED,
                random.nextInt(5_000_000),
                random.nextInt(500_000),
                "req_" + random.nextLong());
    }

    interface Queries {
        UsageQuery query(int i);
    }

    private static void measure(String what, int n, Queries queries, JdbcUsageStore store) {
        for (int i = 0; i < Math.min(100, n); i++) {
            store.summarize(queries.query(-1 - i)); // warm-up: the JIT, the plans, the buffers
        }
        long[] micros = new long[n];
        int rows = 0;
        for (int i = 0; i < n; i++) {
            long t = System.nanoTime();
            List<UsageSummary> answer = store.summarize(queries.query(i));
            micros[i] = (System.nanoTime() - t) / 1000;
            rows += answer.size();
        }
        Arrays.sort(micros);
        System.out.printf(
                "%-50s n=%d  p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%.1f rows per answer)%n",
                what,
                n,
                micros[n / 2] / 1000.0,
                micros[(int) Math.ceil(n * 0.99) - 1] / 1000.0,
                micros[n - 1] / 1000.0,
                rows / (double) n);
    }

    private static int arg(String[] args, String name, int def) {
        for (String a : args) {
            if (a.startsWith(name + "=")) {
                return Integer.parseInt(a.substring(name.length() + 1));
            }
        }
        return def;
    }

    private static void drop(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            for (String t : List.of("usage", "usage_daily", "usage_schema_version")) {
                s.execute("DROP TABLE IF EXISTS " + PREFIX + t);
            }
        }
    }

    private static void analyze(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            s.execute("ANALYZE " + PREFIX + "usage");
            s.execute("ANALYZE " + PREFIX + "usage_daily");
        }
    }

    private static long count(HikariDataSource ds, String table) throws Exception {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String version(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection()) {
            return c.getMetaData().getDatabaseProductVersion();
        }
    }
}
