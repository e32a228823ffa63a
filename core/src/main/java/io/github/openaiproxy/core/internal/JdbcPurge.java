package io.github.openaiproxy.core.internal;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Locale;

/**
 * The bounded {@code DELETE} the JDBC stores' clean-ups run step by step (sessions, images, the usage ledger): one
 * statement deletes the rows whose ids a {@code SELECT id ... LIMIT n} picks, so a backlog is many short transactions
 * rather than one long one.
 */
@Internal
public final class JdbcPurge {
    private JdbcPurge() {}

    /** Whether {@code c} is a PostgreSQL connection. */
    public static boolean isPostgres(Connection c) throws SQLException {
        return c.getMetaData().getDatabaseProductName().toLowerCase(Locale.ROOT).contains("postgres");
    }

    /**
     * {@code DELETE FROM table} of the rows whose {@code id} {@code selectIds} picks. On PostgreSQL the ids go by
     * {@code = ANY(ARRAY(...))}, which takes them by the primary key where {@code IN (SELECT ...)} is planned as a
     * scan of the whole table; with {@code skipLocked}, rows another instance's clean-up holds are skipped (that one
     * deletes them) instead of waited for.
     */
    public static String deleteSelected(String table, String selectIds, boolean postgres, boolean skipLocked) {
        return "DELETE FROM " + table
                + (postgres
                        ? " WHERE id = ANY(ARRAY(" + selectIds + (skipLocked ? " FOR UPDATE SKIP LOCKED" : "") + "))"
                        : " WHERE id IN (" + selectIds + ")");
    }
}
