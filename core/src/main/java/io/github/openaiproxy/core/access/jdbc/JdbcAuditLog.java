package io.github.openaiproxy.core.access.jdbc;

import static io.github.openaiproxy.core.access.jdbc.AccessSchema.failure;
import static io.github.openaiproxy.core.access.jdbc.AccessSchema.instant;
import static io.github.openaiproxy.core.access.jdbc.AccessSchema.setTime;

import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/** The JDBC {@link AuditLog}: one row per admin change in {@code <prefix>audit_log}, never deleted by the proxy. */
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
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement(
                        "SELECT occurred_at, actor, action, key_id, policy FROM " + table + " ORDER BY id DESC")) {
            int max = Math.max(limit, 0);
            p.setMaxRows(max);
            List<AuditEntry> out = new ArrayList<>();
            if (max == 0) {
                return out;
            }
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next() && out.size() < max) {
                    out.add(new AuditEntry(
                            instant(rs, "occurred_at"),
                            rs.getString("actor"),
                            rs.getString("action"),
                            rs.getString("key_id"),
                            rs.getString("policy")));
                }
            }
            return out;
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
