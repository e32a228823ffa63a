package io.github.openaiproxy.core.access.jdbc;

import static io.github.openaiproxy.core.access.jdbc.AccessSchema.failure;
import static io.github.openaiproxy.core.access.jdbc.AccessSchema.instant;
import static io.github.openaiproxy.core.access.jdbc.AccessSchema.setTime;

import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.AuditPage;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * The JDBC {@link AuditLog}: one row per admin change in {@code <prefix>audit_log}, never deleted by the proxy;
 * its identity column {@code id} is the entry's {@linkplain AuditPage position}.
 */
public final class JdbcAuditLog implements AuditLog {
    private final DataSource dataSource;
    private final String table;

    private JdbcAuditLog(DataSource dataSource, AccessSchema schema) {
        this.dataSource = dataSource;
        this.table = schema.audit;
    }

    /** A log on {@code dataSource} with the default table prefix {@code openai_proxy_}. */
    public static JdbcAuditLog create(DataSource dataSource) {
        return create(dataSource, AccessSchema.DEFAULT_PREFIX);
    }

    /** A log whose table is {@code <prefix>audit_log}; creates or migrates the tables. */
    public static JdbcAuditLog create(DataSource dataSource, String tablePrefix) {
        return new JdbcAuditLog(dataSource, AccessSchema.migrate(dataSource, tablePrefix));
    }

    @Override
    public void record(AuditEntry e) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("INSERT INTO " + table
                        + " (occurred_at, actor, action, key_id, policy) VALUES (?, ?, ?, ?, ?)")) {
            setTime(p, 1, e.at());
            p.setString(2, clip(e.actor(), 200));
            p.setString(3, clip(e.action(), 64));
            setText(p, 4, e.keyId(), 80);
            setText(p, 5, e.policy(), 64);
            p.executeUpdate();
        } catch (SQLException x) {
            throw failure("write the audit log", x);
        }
    }

    @Override
    public List<AuditEntry> recent(int limit) {
        return limit < 1 ? List.of() : page(null, limit).entries();
    }

    /**
     * One query of at most {@code limit + 1} rows on the primary key's index: the row's identity {@code id} is its
     * {@linkplain AuditPage position}, unique and growing with every insert, so rows of the same time still page
     * exactly. A row inserted by a transaction that commits after a page was read with a larger id is newer than
     * that page, as any row written during a walk.
     */
    @Override
    public AuditPage page(Long before, int limit) {
        AuditPage.check(before, limit);
        String where = before == null ? "" : " WHERE id < ?";
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("SELECT id, occurred_at, actor, action, key_id, policy FROM "
                        + table + where + " ORDER BY id DESC FETCH FIRST ? ROWS ONLY")) {
            int i = 1;
            if (before != null) {
                p.setLong(i++, before);
            }
            p.setInt(i, AuditPage.oneMore(limit));
            List<AuditEntry> out = new ArrayList<>();
            long last = 0;
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    if (out.size() == limit) {
                        return new AuditPage(out, last);
                    }
                    last = rs.getLong("id");
                    out.add(new AuditEntry(
                            instant(rs, "occurred_at"),
                            rs.getString("actor"),
                            rs.getString("action"),
                            rs.getString("key_id"),
                            rs.getString("policy")));
                }
            }
            return new AuditPage(out, null);
        } catch (SQLException e) {
            throw failure("read the audit log", e);
        }
    }

    private static void setText(PreparedStatement p, int index, String value, int max) throws SQLException {
        if (value == null) {
            p.setNull(index, Types.VARCHAR);
        } else {
            p.setString(index, clip(value, max));
        }
    }

    private static String clip(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max);
    }
}
