package io.github.openaiproxy.core.usage.ledger;

import io.github.openaiproxy.core.internal.ClassPath;
import io.github.openaiproxy.core.internal.JdbcMigrations;
import io.github.openaiproxy.core.internal.JdbcPurge;
import io.github.openaiproxy.core.internal.TablePrefix;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.sql.Types;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.UnaryOperator;
import javax.sql.DataSource;

/**
 * The usage ledger's tables, in the same database as the sessions and keys (H2 or PostgreSQL):
 *
 * <ul>
 *   <li>{@code <prefix>usage}: one row per request, every field of a {@link UsageRecord} (the cost as integer
 *       nano-dollars), indexed by identity and time, by key and time, and by time; written by binary {@code COPY}
 *       on PostgreSQL through pgjdbc ({@link PostgresCopy}), by multi-row {@code INSERT} elsewhere;
 *   <li>{@code <prefix>usage_daily}: the rows summed per UTC day, key, identity, owner, policy and model, upserted
 *       in the same transaction as each batch (one {@code INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE}
 *       on PostgreSQL, {@code MERGE} on H2), so that a summary over whole days reads these few rows, not millions.
 * </ul>
 *
 * A query sums the rollups of the whole days in its range and the raw rows of the partial days at its ends.
 * Text is cut to its column's width (a 10 KB model name is kept as its first 128 characters) and every value is
 * a bound parameter. The schema is migrated as the other stores' ({@code <prefix>usage_schema_version}).
 */
public final class JdbcUsageStore implements UsageSink, UsageQueries {
    private static final System.Logger LOG = System.getLogger(JdbcUsageStore.class.getName());
    /** The default table name prefix, the session store's. */
    public static final String DEFAULT_PREFIX = "openai_proxy_";

    /** Raw rows deleted per statement by {@link #purge}, and statements per purge. */
    static final int PURGE_STEP = 10_000;

    static final int PURGE_STEPS = 100;

    /**
     * The longest one summary ({@link #summarize}) may read before its statement is cancelled, unless {@link
     * #withQueryTimeout} says otherwise: a summary over a long range of raw rows must not hold a connection of the
     * pool, which the writer and the sessions share, for minutes.
     */
    public static final Duration DEFAULT_QUERY_TIMEOUT = Duration.ofSeconds(30);

    private final DataSource dataSource;
    private final String prefix;
    private final Duration queryTimeout;
    private final String raw;
    private final String daily;
    private final String versions;
    private final boolean postgres;
    /**
     * Whether the raw rows may go by COPY: PostgreSQL, and its driver (optional for core) is here; turned off for
     * good by a server that says it does not support binary COPY (a PostgreSQL look-alike).
     */
    private volatile boolean copy;
    /** PostgreSQL's daily upsert, one statement for a whole batch. */
    private final String postgresUpsert;

    private JdbcUsageStore(DataSource dataSource, String prefix, boolean postgres, Duration queryTimeout) {
        this.dataSource = dataSource;
        this.prefix = prefix;
        this.queryTimeout = queryTimeout;
        this.raw = prefix + "usage";
        this.daily = prefix + "usage_daily";
        this.versions = versionsTable(prefix);
        this.postgres = postgres;
        // pgjdbc is optional for core: only with it does PostgresCopy link.
        this.copy = postgres && ClassPath.has("org.postgresql.PGConnection");
        this.postgresUpsert = postgresUpsert();
    }

    /** A store on {@code dataSource} (which it never closes) with the default table prefix. */
    public static JdbcUsageStore create(DataSource dataSource) {
        return create(dataSource, DEFAULT_PREFIX, Clock.systemUTC());
    }

    /**
     * A store with tables named {@code <prefix>...} (lower case letters, digits and {@code _}); creates or
     * migrates the schema. Fails with an {@link IllegalStateException} when the database cannot be reached.
     */
    public static JdbcUsageStore create(DataSource dataSource, String prefix, Clock clock) {
        Objects.requireNonNull(dataSource, "dataSource");
        Objects.requireNonNull(clock, "clock");
        TablePrefix.check(prefix);
        try {
            boolean postgres;
            try (Connection c = dataSource.getConnection()) {
                postgres = JdbcPurge.isPostgres(c);
            }
            JdbcUsageStore store = new JdbcUsageStore(dataSource, prefix, postgres, DEFAULT_QUERY_TIMEOUT);
            new JdbcMigrations(store.versions, "usage ledger", clock).migrate(dataSource, store.migrations());
            return store;
        } catch (SQLException e) {
            throw new IllegalStateException(
                    "could not create or migrate the usage ledger's tables: " + e.getMessage(), e);
        }
    }

    /**
     * The store on {@code dataSource} when its tables were created before (by a server with the ledger on), as
     * {@link #create(DataSource, String, Clock)} opens it; empty, with nothing created, when they never were. For
     * readers such as the standalone's {@code usage} command, which must not leave tables behind.
     */
    public static Optional<JdbcUsageStore> existing(DataSource dataSource, String prefix, Clock clock) {
        Objects.requireNonNull(dataSource, "dataSource");
        Objects.requireNonNull(clock, "clock");
        TablePrefix.check(prefix);
        try {
            if (!new JdbcMigrations(versionsTable(prefix), "usage ledger", clock).created(dataSource)) {
                return Optional.empty();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("could not read the usage ledger's tables: " + e.getMessage(), e);
        }
        return Optional.of(create(dataSource, prefix, clock));
    }

    /**
     * This store on the same tables, its summaries cancelled after {@code timeout} (whole seconds, 1 s to 1 h; JDBC
     * counts a statement's timeout in seconds) instead of {@link #DEFAULT_QUERY_TIMEOUT}. A {@link
     * BatchingUsageLedger} over the store asks for its {@link LedgerConfig#queryTimeout()} ({@code
     * ledger.query-timeout}) instead: this one is for {@link #summarize(UsageQuery)} called on the store itself.
     */
    public JdbcUsageStore withQueryTimeout(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.compareTo(Duration.ofSeconds(1)) < 0 || timeout.compareTo(Duration.ofHours(1)) > 0) {
            throw new IllegalArgumentException("a usage query timeout is from 1s to 1h: " + timeout);
        }
        return new JdbcUsageStore(dataSource, prefix, postgres, timeout);
    }

    /** How long a summary may read before it is cancelled. */
    public Duration queryTimeout() {
        return queryTimeout;
    }

    /** The table of applied schema versions, the one the migrations keep and {@link #existing} looks for. */
    private static String versionsTable(String prefix) {
        return prefix + "usage_schema_version";
    }

    /** The migrations, in order; version i+1 is {@code migrations().get(i)}. Never edit one: add one. */
    private List<List<String>> migrations() {
        return List.of(List.of(
                "CREATE TABLE IF NOT EXISTS " + raw + " (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                        + " at TIMESTAMP WITH TIME ZONE NOT NULL,"
                        + " identity_kind VARCHAR(16) NOT NULL,"
                        + " identity_id VARCHAR(200) NOT NULL,"
                        + " key_id VARCHAR(64),"
                        + " owner VARCHAR(200),"
                        + " policy VARCHAR(64) NOT NULL,"
                        + " route VARCHAR(256) NOT NULL,"
                        + " requested_model VARCHAR(128),"
                        + " answering_model VARCHAR(128),"
                        + " upstream VARCHAR(64),"
                        + " upstream_status INT NOT NULL,"
                        + " proxy_status INT NOT NULL,"
                        + " input_tokens BIGINT NOT NULL,"
                        + " cached_input_tokens BIGINT NOT NULL,"
                        + " output_tokens BIGINT NOT NULL,"
                        + " reasoning_tokens BIGINT NOT NULL,"
                        + " images INT NOT NULL,"
                        + " cost_nano_usd BIGINT NOT NULL,"
                        + " estimated BOOLEAN NOT NULL,"
                        + " streamed BOOLEAN NOT NULL,"
                        + " outcome VARCHAR(20) NOT NULL,"
                        + " duration_micros BIGINT NOT NULL,"
                        + " first_event_micros BIGINT NOT NULL,"
                        + " upstream_request_id VARCHAR(200))",
                "CREATE INDEX IF NOT EXISTS " + raw + "_identity_at ON " + raw + " (identity_kind, identity_id, at)",
                "CREATE INDEX IF NOT EXISTS " + raw + "_key_at ON " + raw + " (key_id, at)",
                "CREATE INDEX IF NOT EXISTS " + raw + "_at ON " + raw + " (at)",
                // usage_day: DAY is a keyword of H2. '' stands for none in the key columns: a primary key's columns
                // cannot be null.
                "CREATE TABLE IF NOT EXISTS " + daily + " (usage_day DATE NOT NULL,"
                        + " key_id VARCHAR(64) NOT NULL,"
                        + " identity_kind VARCHAR(16) NOT NULL,"
                        + " identity_id VARCHAR(200) NOT NULL,"
                        + " owner VARCHAR(200) NOT NULL,"
                        + " policy VARCHAR(64) NOT NULL,"
                        + " model VARCHAR(128) NOT NULL,"
                        + " requests BIGINT NOT NULL,"
                        + " input_tokens BIGINT NOT NULL,"
                        + " cached_input_tokens BIGINT NOT NULL,"
                        + " output_tokens BIGINT NOT NULL,"
                        + " reasoning_tokens BIGINT NOT NULL,"
                        + " images BIGINT NOT NULL,"
                        + " cost_nano_usd BIGINT NOT NULL,"
                        + " estimated BIGINT NOT NULL,"
                        + " PRIMARY KEY (usage_day, key_id, identity_kind, identity_id, owner, policy, model))",
                "CREATE INDEX IF NOT EXISTS " + daily + "_key_day ON " + daily + " (key_id, usage_day)",
                "CREATE INDEX IF NOT EXISTS " + daily + "_identity_day ON " + daily
                        + " (identity_kind, identity_id, usage_day)"));
    }

    // ---- writing

    private static final String SUMS = "requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,"
            + " images, cost_nano_usd, estimated";
    private static final String[] SUM_COLUMNS = SUMS.split(",\\s*");
    private static final String KEYS = "usage_day, key_id, identity_kind, identity_id, owner, policy, model";
    private static final String[] KEY_COLUMNS = KEYS.split(",\\s*");

    @Override
    public void write(List<UsageRecord> batch) throws SQLException {
        if (batch.isEmpty()) {
            return;
        }
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                insertRaw(c, batch);
                upsertDaily(c, rollup(batch));
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        }
    }

    /**
     * Rows per INSERT: one statement of many rows is several times faster on PostgreSQL than a JDBC batch of
     * one-row statements, and 500 rows of 24 columns stay far below its 32767 parameters.
     */
    static final int ROWS_PER_STATEMENT = 500;

    private static final int RAW_COLUMNS = 24;

    /** The raw columns a row is written to, in {@link PostgresCopy}'s order too. */
    private static final String RAW_COLUMN_LIST =
            "at, identity_kind, identity_id, key_id, owner, policy, route, requested_model, answering_model,"
                    + " upstream, upstream_status, proxy_status, input_tokens, cached_input_tokens, output_tokens,"
                    + " reasoning_tokens, images, cost_nano_usd, estimated, streamed, outcome, duration_micros,"
                    + " first_event_micros, upstream_request_id";

    private void insertRaw(Connection c, List<UsageRecord> batch) throws SQLException {
        // PostgreSQL through pgjdbc: binary COPY, several times less CPU per row for this thread and the server.
        if (copy && PostgresCopy.accepts(c)) {
            try {
                PostgresCopy.copy(c, raw, RAW_COLUMN_LIST, batch);
            } catch (SQLException e) {
                if (e.getSQLState() != null && e.getSQLState().startsWith("0A")) { // feature_not_supported
                    copy = false; // the ledger tries the batch again, then with INSERT
                    LOG.log(System.Logger.Level.WARNING, "usage ledger: the database refused COPY; rows are inserted");
                }
                throw e;
            }
            return;
        }
        for (int from = 0; from < batch.size(); from += ROWS_PER_STATEMENT) {
            List<UsageRecord> chunk = batch.subList(from, Math.min(batch.size(), from + ROWS_PER_STATEMENT));
            try (PreparedStatement p = c.prepareStatement(
                    "INSERT INTO " + raw + " (" + RAW_COLUMN_LIST + ") VALUES " + values(RAW_COLUMNS, chunk.size()))) {
                int i = 1;
                for (UsageRecord r : chunk) {
                    p.setObject(i++, OffsetDateTime.ofInstant(r.at(), ZoneOffset.UTC));
                    p.setString(i++, LedgerRows.clip(r.identityKind(), 16));
                    p.setString(i++, LedgerRows.clip(r.identityId(), LedgerRows.ID));
                    text(p, i++, LedgerRows.clip(r.keyId(), LedgerRows.SHORT));
                    text(p, i++, LedgerRows.clip(r.owner(), LedgerRows.ID));
                    p.setString(i++, LedgerRows.clip(r.policy(), LedgerRows.SHORT));
                    p.setString(i++, LedgerRows.clip(r.route(), LedgerRows.ROUTE));
                    text(p, i++, LedgerRows.clip(r.requestedModel(), LedgerRows.MODEL));
                    text(p, i++, LedgerRows.clip(r.answeringModel(), LedgerRows.MODEL));
                    text(p, i++, LedgerRows.clip(r.upstream(), LedgerRows.SHORT));
                    p.setInt(i++, r.upstreamStatus());
                    p.setInt(i++, r.proxyStatus());
                    p.setLong(i++, r.usage().inputTokens());
                    p.setLong(i++, r.usage().cachedInputTokens());
                    p.setLong(i++, r.usage().outputTokens());
                    p.setLong(i++, r.usage().reasoningTokens());
                    p.setInt(i++, r.usage().images());
                    p.setLong(i++, r.costNanoUsd());
                    p.setBoolean(i++, r.estimated());
                    p.setBoolean(i++, r.streamed());
                    p.setString(i++, r.outcome().name());
                    p.setLong(i++, r.durationMicros());
                    p.setLong(i++, r.firstEventMicros());
                    text(p, i++, LedgerRows.clip(r.upstreamRequestId(), LedgerRows.ID));
                }
                p.executeUpdate();
            }
        }
    }

    /** {@code (?, ?), (?, ?)}: {@code rows} rows of {@code columns} parameters. */
    private static String values(int columns, int rows) {
        String row = "(" + "?, ".repeat(columns - 1) + "?)";
        StringBuilder b = new StringBuilder(rows * (row.length() + 2));
        for (int r = 0; r < rows; r++) {
            b.append(r == 0 ? "" : ", ").append(row);
        }
        return b.toString();
    }

    /** One daily row's key; the day as days since 1970-01-01 (UTC), so that no date is made per record. */
    private record DayKey(
            long epochDay,
            String keyId,
            String identityKind,
            String identityId,
            String owner,
            String policy,
            String model)
            implements Comparable<DayKey> {
        static DayKey of(UsageRecord r) {
            return new DayKey(
                    Math.floorDiv(r.at().getEpochSecond(), 86_400L),
                    orEmpty(LedgerRows.clip(r.keyId(), LedgerRows.SHORT)),
                    LedgerRows.clip(r.identityKind(), 16),
                    LedgerRows.clip(r.identityId(), LedgerRows.ID),
                    orEmpty(LedgerRows.clip(r.owner(), LedgerRows.ID)),
                    LedgerRows.clip(r.policy(), LedgerRows.SHORT),
                    orEmpty(LedgerRows.model(r)));
        }

        LocalDate day() {
            return LocalDate.ofEpochDay(epochDay);
        }

        /** The order rows are upserted in: one order for every writer, so two instances cannot deadlock. */
        @Override
        public int compareTo(DayKey o) {
            int c = Long.compare(epochDay, o.epochDay);
            c = c != 0 ? c : keyId.compareTo(o.keyId);
            c = c != 0 ? c : identityKind.compareTo(o.identityKind);
            c = c != 0 ? c : identityId.compareTo(o.identityId);
            c = c != 0 ? c : owner.compareTo(o.owner);
            c = c != 0 ? c : policy.compareTo(o.policy);
            return c != 0 ? c : model.compareTo(o.model);
        }
    }

    /** The batch summed per daily row, in {@link DayKey}'s order; a record allocates nothing but its key. */
    private static List<Map.Entry<DayKey, UsageSummary>> rollup(List<UsageRecord> batch) {
        Map<DayKey, LedgerRows.Tally> sums = new HashMap<>();
        DayKey lastKey = null;
        LedgerRows.Tally last = null;
        for (UsageRecord r : batch) {
            DayKey k = DayKey.of(r);
            LedgerRows.Tally t = k.equals(lastKey) ? last : sums.computeIfAbsent(k, x -> new LedgerRows.Tally());
            t.add(r);
            lastKey = k;
            last = t;
        }
        List<Map.Entry<DayKey, UsageSummary>> rows = new ArrayList<>(sums.size());
        for (Map.Entry<DayKey, LedgerRows.Tally> e : sums.entrySet()) {
            rows.add(Map.entry(e.getKey(), e.getValue().summary(null)));
        }
        rows.sort(Map.Entry.comparingByKey());
        return rows;
    }

    private void upsertDaily(Connection c, List<Map.Entry<DayKey, UsageSummary>> all) throws SQLException {
        if (!postgres) {
            // H2: one MERGE per daily row, in a JDBC batch.
            try (PreparedStatement p = c.prepareStatement(h2Merge())) {
                for (Map.Entry<DayKey, UsageSummary> e : all) {
                    bindDaily(p, 1, e.getKey(), e.getValue());
                    p.addBatch();
                }
                p.executeBatch();
            }
            return;
        }
        // PostgreSQL: one INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT for the whole batch, each key once
        // (the batch was summed): 15 array parameters however many rows, one statement text that the driver
        // prepares once per connection, instead of thousands of parameters to bind and parse.
        int n = all.size();
        Integer[] days = new Integer[n];
        String[][] keys = new String[KEY_COLUMNS.length - 1][n];
        Long[][] sums = new Long[SUM_COLUMNS.length][n];
        for (int r = 0; r < n; r++) {
            DayKey k = all.get(r).getKey();
            UsageSummary s = all.get(r).getValue();
            days[r] = Math.toIntExact(k.epochDay());
            keys[0][r] = k.keyId();
            keys[1][r] = k.identityKind();
            keys[2][r] = k.identityId();
            keys[3][r] = k.owner();
            keys[4][r] = k.policy();
            keys[5][r] = k.model();
            long[] v = {
                s.requests(),
                s.inputTokens(),
                s.cachedInputTokens(),
                s.outputTokens(),
                s.reasoningTokens(),
                s.images(),
                s.costNanoUsd(),
                s.estimated()
            };
            for (int j = 0; j < v.length; j++) {
                sums[j][r] = v[j];
            }
        }
        try (PreparedStatement p = c.prepareStatement(postgresUpsert)) {
            int i = 1;
            p.setArray(i++, c.createArrayOf("int4", days));
            for (String[] column : keys) {
                p.setArray(i++, c.createArrayOf("varchar", column));
            }
            for (Long[] column : sums) {
                p.setArray(i++, c.createArrayOf("int8", column));
            }
            p.executeUpdate();
        }
    }

    /** Binds one daily row from parameter {@code i}; returns the next parameter's index. */
    private static int bindDaily(PreparedStatement p, int i, DayKey k, UsageSummary s) throws SQLException {
        p.setObject(i++, k.day());
        p.setString(i++, k.keyId());
        p.setString(i++, k.identityKind());
        p.setString(i++, k.identityId());
        p.setString(i++, k.owner());
        p.setString(i++, k.policy());
        p.setString(i++, k.model());
        p.setLong(i++, s.requests());
        p.setLong(i++, s.inputTokens());
        p.setLong(i++, s.cachedInputTokens());
        p.setLong(i++, s.outputTokens());
        p.setLong(i++, s.reasoningTokens());
        p.setLong(i++, s.images());
        p.setLong(i++, s.costNanoUsd());
        p.setLong(i++, s.estimated());
        return i;
    }

    /**
     * The rows of the arrays, in their order ({@code WITH ORDINALITY}: every writer locks daily rows in {@link
     * DayKey}'s order, so two instances cannot deadlock), each added to its daily row or inserted.
     */
    private String postgresUpsert() {
        String set = each(SUM_COLUMNS, ", ", col -> col + " = " + daily + "." + col + " + EXCLUDED." + col);
        return "INSERT INTO " + daily + " (" + KEYS + ", " + SUMS + ") SELECT DATE '1970-01-01' + d, "
                + KEYS.substring(KEYS.indexOf(',') + 2)
                + ", " + SUMS + " FROM unnest(?::int4[]" + ", ?::varchar[]".repeat(KEY_COLUMNS.length - 1)
                + ", ?::int8[]".repeat(SUM_COLUMNS.length) + ") WITH ORDINALITY AS s (d, "
                + KEYS.substring(KEYS.indexOf(',') + 2) + ", " + SUMS + ", n) ORDER BY n ON CONFLICT (" + KEYS
                + ") DO UPDATE SET " + set;
    }

    private String h2Merge() {
        String on = each(KEY_COLUMNS, " AND ", col -> "d." + col + " = s." + col);
        String set = each(SUM_COLUMNS, ", ", col -> col + " = d." + col + " + s." + col);
        String values = each((KEYS + ", " + SUMS).split(",\\s*"), ", ", col -> "s." + col);
        return "MERGE INTO " + daily + " d USING (VALUES (CAST(? AS DATE), CAST(? AS VARCHAR), CAST(? AS VARCHAR),"
                + " CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS BIGINT),"
                + " CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT),"
                + " CAST(? AS BIGINT), CAST(? AS BIGINT))) s (" + KEYS + ", " + SUMS + ") ON " + on
                + " WHEN MATCHED THEN UPDATE SET " + set + " WHEN NOT MATCHED THEN INSERT (" + KEYS + ", " + SUMS
                + ") VALUES (" + values + ")";
    }

    /** {@code columns}, each written by {@code write}, with {@code separator} between them. */
    private static String each(String[] columns, String separator, UnaryOperator<String> write) {
        StringBuilder b = new StringBuilder();
        for (String col : columns) {
            b.append(b.isEmpty() ? "" : separator).append(write.apply(col));
        }
        return b.toString();
    }

    @Override
    public void purge(Instant cutoff) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            String oldest = "SELECT id FROM " + raw + " WHERE at < ? ORDER BY at LIMIT " + PURGE_STEP;
            try (PreparedStatement p = c.prepareStatement(JdbcPurge.deleteSelected(raw, oldest, postgres, false))) {
                p.setObject(1, OffsetDateTime.ofInstant(cutoff, ZoneOffset.UTC));
                for (int step = 0; step < PURGE_STEPS && p.executeUpdate() == PURGE_STEP; step++) {
                    // the next step; what is left waits for the next purge
                }
            }
            // A day's rollup goes once the whole day is older than the cutoff.
            try (PreparedStatement p = c.prepareStatement("DELETE FROM " + daily + " WHERE usage_day < ?")) {
                p.setObject(1, cutoff.atOffset(ZoneOffset.UTC).toLocalDate());
                p.executeUpdate();
            }
        }
    }

    // ---- reading

    /**
     * {@inheritDoc}
     *
     * <p>Its statements together read at most {@link #queryTimeout()}: past it the one reading is cancelled and the
     * summary fails with a {@link LedgerTimeoutException}.
     */
    @Override
    public List<UsageSummary> summarize(UsageQuery q) {
        return summarize(q, queryTimeout);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Its statements together read at most {@code timeout} (whole seconds from 1 s): past it the one reading is
     * cancelled and the summary fails with a {@link LedgerTimeoutException}.
     */
    @Override
    public List<UsageSummary> summarize(UsageQuery q, Duration queryTimeout) {
        Objects.requireNonNull(queryTimeout, "queryTimeout");
        LedgerRows.Sums sums = new LedgerRows.Sums();
        Deadline deadline = new Deadline(System.nanoTime() + queryTimeout.toNanos());
        try (Connection c = dataSource.getConnection()) {
            Instant start = q.since();
            Instant until = q.until();
            Instant firstMidnight = midnightAfter(start);
            if (!start.equals(midnight(start))) {
                Instant end = firstMidnight.isBefore(until) ? firstMidnight : until;
                readRaw(c, q, start, end, sums, deadline);
                start = end;
            }
            Instant lastMidnight = midnight(until);
            if (start.isBefore(lastMidnight)) {
                readDaily(c, q, day(start), day(lastMidnight), sums, deadline);
                start = lastMidnight;
            }
            if (start.isBefore(until)) {
                readRaw(c, q, start, until, sums, deadline);
            }
        } catch (SQLException e) {
            if (e instanceof SQLTimeoutException || QUERY_CANCELED.equals(e.getSQLState())) {
                throw new LedgerTimeoutException(queryTimeout, e);
            }
            throw new LedgerUnavailableException("could not read the usage ledger: " + e.getMessage(), e);
        }
        return sums.answer(q);
    }

    /** SQL's state of a statement cancelled, by its timeout here (PostgreSQL and H2 both answer it). */
    private static final String QUERY_CANCELED = "57014";

    /** When a summary's time is up, as {@link System#nanoTime()} counts. */
    private record Deadline(long nanos) {
        /** What is left for the next statement, in whole seconds: at least 1, since 0 is none in JDBC. */
        int secondsLeft() throws SQLTimeoutException {
            long left = nanos - System.nanoTime();
            if (left <= 0) {
                throw new SQLTimeoutException("the summary's time is up", QUERY_CANCELED);
            }
            return (int) Math.max(1, (left + 999_999_999L) / 1_000_000_000L);
        }
    }

    /** The raw rows of {@code [from, to)}, which lies within one UTC day. */
    private void readRaw(Connection c, UsageQuery q, Instant from, Instant to, LedgerRows.Sums sums, Deadline deadline)
            throws SQLException {
        String group = switch (q.by()) {
            case KEY -> "key_id";
            case USER -> "owner";
            case MODEL -> "COALESCE(answering_model, requested_model)";
            case POLICY -> "policy";
            case DAY -> null; // one day: its date
        };
        StringBuilder sql = new StringBuilder("SELECT ")
                .append(group == null ? "NULL" : group)
                .append(", COUNT(*), SUM(input_tokens), SUM(cached_input_tokens), SUM(output_tokens),"
                        + " SUM(reasoning_tokens), SUM(images), SUM(cost_nano_usd),"
                        + " SUM(CASE WHEN estimated THEN 1 ELSE 0 END) FROM ")
                .append(raw)
                .append(" WHERE at >= ? AND at < ?");
        filters(sql, q);
        if (group != null) {
            sql.append(" GROUP BY ").append(group);
        }
        try (PreparedStatement p = c.prepareStatement(sql.toString())) {
            p.setQueryTimeout(deadline.secondsLeft());
            p.setObject(1, OffsetDateTime.ofInstant(from, ZoneOffset.UTC));
            p.setObject(2, OffsetDateTime.ofInstant(to, ZoneOffset.UTC));
            bindFilters(p, 3, q);
            String day = day(from).toString();
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    if (rs.getLong(2) == 0) {
                        continue; // no rows: the aggregate's one row of nulls
                    }
                    // An empty value is none, as in the daily rows, which keep none as the empty text.
                    sums.add(summary(rs, group == null ? day : LedgerRows.noneIfEmpty(rs.getString(1))));
                }
            }
        }
    }

    /** The daily rows of the days {@code [from, to)}. */
    private void readDaily(
            Connection c, UsageQuery q, LocalDate from, LocalDate to, LedgerRows.Sums sums, Deadline deadline)
            throws SQLException {
        String group = switch (q.by()) {
            case KEY -> "key_id";
            case USER -> "owner";
            case MODEL -> "model";
            case POLICY -> "policy";
            case DAY -> "usage_day";
        };
        StringBuilder sql = new StringBuilder("SELECT ")
                .append(group)
                .append(", SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(output_tokens),"
                        + " SUM(reasoning_tokens), SUM(images), SUM(cost_nano_usd), SUM(estimated) FROM ")
                .append(daily)
                .append(" WHERE usage_day >= ? AND usage_day < ?");
        filters(sql, q);
        sql.append(" GROUP BY ").append(group);
        try (PreparedStatement p = c.prepareStatement(sql.toString())) {
            p.setQueryTimeout(deadline.secondsLeft());
            p.setObject(1, from);
            p.setObject(2, to);
            bindFilters(p, 3, q);
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    String value = q.by() == UsageQuery.By.DAY
                            ? rs.getObject(1, LocalDate.class).toString()
                            : rs.getString(1);
                    sums.add(summary(rs, LedgerRows.noneIfEmpty(value)));
                }
            }
        }
    }

    private static void filters(StringBuilder sql, UsageQuery q) {
        if (q.keyId() != null) {
            sql.append(" AND key_id = ?");
        }
        if (q.identityKind() != null) {
            sql.append(" AND identity_kind = ? AND identity_id = ?");
        }
    }

    private static void bindFilters(PreparedStatement p, int first, UsageQuery q) throws SQLException {
        int i = first;
        if (q.keyId() != null) {
            p.setString(i++, q.keyId());
        }
        if (q.identityKind() != null) {
            p.setString(i++, q.identityKind());
            p.setString(i, q.identityId());
        }
    }

    private static UsageSummary summary(ResultSet rs, String group) throws SQLException {
        return new UsageSummary(
                group,
                rs.getLong(2),
                rs.getLong(3),
                rs.getLong(4),
                rs.getLong(5),
                rs.getLong(6),
                rs.getLong(7),
                rs.getLong(8),
                rs.getLong(9));
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }

    private static void text(PreparedStatement p, int i, String value) throws SQLException {
        if (value == null) {
            p.setNull(i, Types.VARCHAR);
        } else {
            p.setString(i, value);
        }
    }

    private static LocalDate day(Instant t) {
        return t.atOffset(ZoneOffset.UTC).toLocalDate();
    }

    private static Instant midnight(Instant t) {
        return day(t).atStartOfDay(ZoneOffset.UTC).toInstant();
    }

    private static Instant midnightAfter(Instant t) {
        return day(t).plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    }

    /** The raw rows' table, for tests and benchmarks. */
    public String rawTable() {
        return raw;
    }

    /** The daily rows' table. */
    public String dailyTable() {
        return daily;
    }
}
