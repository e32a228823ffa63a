package io.github.openaiproxy.core.internal;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * Runs numbered schema migrations, for the JDBC stores: a version table records which ran, and each one not
 * yet recorded runs once, in its own transaction, with its version. Migrations are idempotent DDL, so
 * instances that start at the same time cannot break the schema: one that loses the race finds the version
 * recorded and goes on; one that fails while another holds the same DDL goes again a moment later. A schema that
 * is up to date gets no DDL at all, so a user without the right to create tables runs on tables made beforehand.
 */
public final class JdbcMigrations {
    private static final System.Logger LOG = System.getLogger(JdbcMigrations.class.getName());

    /** How often a migration that lost a race with another instance's is tried, in all. */
    static final int RACE_ATTEMPTS = 5;

    private final String versions;
    private final String what;
    private final Clock clock;

    /**
     * @param versions the version table's name (each store keeps its own numbering)
     * @param what what the schema holds, for the log ({@code session}, ...)
     * @param clock the clock of the {@code applied_at} times
     */
    public JdbcMigrations(String versions, String what, Clock clock) {
        this.versions = Objects.requireNonNull(versions, "versions");
        this.what = Objects.requireNonNull(what, "what");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /**
     * Work a migration does on existing rows after its DDL, in short transactions of its own (on an auto-commit
     * connection), before its version is recorded: rows a big table holds are not one long transaction, holding the
     * DDL's lock, the way a statement of the migration would be. It must be idempotent: a start that stops half-way
     * runs it again, and so may an instance that starts at the same time.
     */
    @FunctionalInterface
    public interface Backfill {
        /** Does the work on {@code c}, which is in auto-commit mode. */
        void run(Connection c) throws SQLException;
    }

    /**
     * Creates the version table if needed and runs each migration not yet recorded. Version i+1 is
     * {@code migrations.get(i)}: a migration is never edited, only added.
     */
    public void migrate(DataSource dataSource, List<List<String>> migrations) throws SQLException {
        migrate(dataSource, migrations, Map.of());
    }

    /**
     * As {@link #migrate(DataSource, List)}, running {@code backfills.get(v)} after the statements of version
     * {@code v} are committed and before the version is recorded.
     */
    public void migrate(DataSource dataSource, List<List<String>> migrations, Map<Integer, Backfill> backfills)
            throws SQLException {
        // Instances starting together race on the same DDL: PostgreSQL can refuse a CREATE ... IF NOT EXISTS
        // that another transaction is committing, and a loser may look before the winner's version is
        // committed. Going again a moment later finds the schema (or the version) there.
        for (int attempt = 1; ; attempt++) {
            try {
                migrateOnce(dataSource, migrations, backfills);
                return;
            } catch (SQLException e) {
                if (attempt == RACE_ATTEMPTS) {
                    throw e;
                }
                LOG.log(System.Logger.Level.DEBUG, what + " schema migration raced, going again: {0}", e.toString());
                try {
                    Thread.sleep(100L * attempt);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /**
     * Whether the version table exists in the connection's schema, so that the schema was created once; creates
     * nothing. Looks the name up as written, in upper and in lower case (H2 and PostgreSQL fold unquoted names
     * differently).
     */
    public boolean created(DataSource dataSource) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            return created(c);
        }
    }

    private boolean created(Connection c) throws SQLException {
        DatabaseMetaData meta = c.getMetaData();
        for (String name : new LinkedHashSet<>(
                List.of(versions, versions.toUpperCase(Locale.ROOT), versions.toLowerCase(Locale.ROOT)))) {
            try (ResultSet tables = meta.getTables(null, c.getSchema(), name, new String[] {"TABLE"})) {
                if (tables.next()) {
                    return true;
                }
            }
        }
        return false;
    }

    private void migrateOnce(DataSource dataSource, List<List<String>> migrations, Map<Integer, Backfill> backfills)
            throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            // Only when it is missing: PostgreSQL refuses even CREATE TABLE IF NOT EXISTS of a table that exists
            // to a user without CREATE on the schema, the user of tables a DBA made beforehand.
            if (!created(c)) {
                try (Statement s = c.createStatement()) {
                    s.execute("CREATE TABLE IF NOT EXISTS " + versions + " (version INT NOT NULL PRIMARY KEY,"
                            + " applied_at TIMESTAMP WITH TIME ZONE NOT NULL)");
                }
            }
            for (int v = currentVersion(c) + 1; v <= migrations.size(); v++) {
                Backfill backfill = backfills.get(v);
                if (backfill != null) {
                    // The DDL first, committed on its own: the backfill's steps must not run under its lock.
                    if (!apply(c, v, migrations.get(v - 1), false)) {
                        continue;
                    }
                    boolean autoCommit = c.getAutoCommit();
                    c.setAutoCommit(true);
                    try {
                        backfill.run(c);
                    } finally {
                        c.setAutoCommit(autoCommit);
                    }
                }
                apply(c, v, backfill == null ? migrations.get(v - 1) : List.of(), true);
            }
        }
    }

    private int currentVersion(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT MAX(version) FROM " + versions)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * Runs {@code statements} in one transaction, with the version's record when {@code record}; whether the version
     * is still to be recorded (false when another instance recorded it meanwhile).
     */
    private boolean apply(Connection c, int version, List<String> statements, boolean record) throws SQLException {
        boolean autoCommit = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            try (Statement s = c.createStatement()) {
                for (String sql : statements) {
                    s.execute(sql);
                }
            }
            if (record) {
                try (PreparedStatement p =
                        c.prepareStatement("INSERT INTO " + versions + " (version, applied_at) VALUES (?, ?)")) {
                    p.setInt(1, version);
                    p.setObject(2, OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC));
                    p.executeUpdate();
                }
            }
            c.commit();
            if (record) {
                LOG.log(System.Logger.Level.INFO, what + " schema migrated to version {0}", version);
            }
            return true;
        } catch (SQLException e) {
            c.rollback();
            // Another instance may have applied it at the same moment: then all is well.
            if (currentVersion(c) < version) {
                throw e;
            }
            return false;
        } finally {
            c.setAutoCommit(autoCommit);
        }
    }
}
