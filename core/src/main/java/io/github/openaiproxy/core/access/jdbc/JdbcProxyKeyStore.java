package io.github.openaiproxy.core.access.jdbc;

import static io.github.openaiproxy.core.access.jdbc.AccessSchema.failure;
import static io.github.openaiproxy.core.access.jdbc.AccessSchema.instant;
import static io.github.openaiproxy.core.access.jdbc.AccessSchema.setTime;

import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyPage;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * The JDBC {@link ProxyKeyStore}: keys in one table, {@code <prefix>proxy_keys}, shared by every instance on
 * the same database (H2 by default, PostgreSQL for several hosts). Only the key's SHA-256 and display prefix
 * are stored. Plain JDBC on a {@link DataSource} the store never closes; the tables are created or migrated
 * when the store is built (see {@link JdbcPolicyStore} and {@link JdbcAuditLog}, which share the migrations).
 */
public final class JdbcProxyKeyStore implements ProxyKeyStore {
    /** Ids and hashes outside this shape are unknown without asking the database. */
    private static final Pattern WELL_FORMED = Pattern.compile("[A-Za-z0-9._-]{1,80}");

    private static final String COLUMNS =
            "id, display_prefix, key_hash, name, owner, policy, created_at, expires_at, revoked_at, last_used_at";

    private final DataSource dataSource;
    private final String table;

    private JdbcProxyKeyStore(DataSource dataSource, AccessSchema schema) {
        this.dataSource = dataSource;
        this.table = schema.keys;
    }

    /** A store on {@code dataSource} with the default table prefix {@code openai_proxy_}. */
    public static JdbcProxyKeyStore create(DataSource dataSource) {
        return create(dataSource, AccessSchema.DEFAULT_PREFIX);
    }

    /**
     * A store on {@code dataSource} whose tables are named {@code <prefix>proxy_keys} and so on (lower case
     * letters, digits and {@code _}); creates or migrates them.
     */
    public static JdbcProxyKeyStore create(DataSource dataSource, String tablePrefix) {
        return new JdbcProxyKeyStore(dataSource, AccessSchema.migrate(dataSource, tablePrefix));
    }

    @Override
    public Optional<ProxyKey> findByHash(String hash) {
        return one("key_hash", hash, "find a proxy key");
    }

    @Override
    public Optional<ProxyKey> find(String id) {
        return one("id", id, "find a proxy key");
    }

    private Optional<ProxyKey> one(String column, String value, String what) {
        if (value == null || !WELL_FORMED.matcher(value).matches()) {
            return Optional.empty();
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p =
                        c.prepareStatement("SELECT " + COLUMNS + " FROM " + table + " WHERE " + column + " = ?")) {
            p.setString(1, value);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? Optional.of(read(rs)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    @Override
    public List<ProxyKey> list() {
        try (Connection c = dataSource.getConnection();
                PreparedStatement p =
                        c.prepareStatement("SELECT " + COLUMNS + " FROM " + table + " ORDER BY created_at, id");
                ResultSet rs = p.executeQuery()) {
            List<ProxyKey> all = new ArrayList<>();
            while (rs.next()) {
                all.add(read(rs));
            }
            return all;
        } catch (SQLException e) {
            throw failure("list the proxy keys", e);
        }
    }

    /**
     * One query of at most {@code limit + 1} rows, on the primary key's index: {@code id > after} in the
     * database's own order of ids, which its {@code ORDER BY} follows too.
     */
    @Override
    public ProxyKeyPage page(String after, int limit) {
        ProxyKeyPage.check(after, limit);
        String where = after == null ? "" : " WHERE id > ?";
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement(
                        "SELECT " + COLUMNS + " FROM " + table + where + " ORDER BY id FETCH FIRST ? ROWS ONLY")) {
            int i = 1;
            if (after != null) {
                p.setString(i++, after);
            }
            p.setInt(i, ProxyKeyPage.oneMore(limit));
            try (ResultSet rs = p.executeQuery()) {
                List<ProxyKey> keys = new ArrayList<>();
                while (rs.next()) {
                    keys.add(read(rs));
                }
                return ProxyKeyPage.of(keys, limit);
            }
        } catch (SQLException e) {
            throw failure("list the proxy keys", e);
        }
    }

    /** One row at most, whatever the number of keys: the database looks, and answers whether it found one. */
    @Override
    public boolean hasUnrevokedKeyUnder(String policy) {
        if (policy == null) {
            return false;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("SELECT 1 FROM " + table
                        + " WHERE policy = ? AND revoked_at IS NULL FETCH FIRST 1 ROWS ONLY")) {
            p.setString(1, policy);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next();
            }
        } catch (SQLException e) {
            throw failure("look for a proxy key under a policy", e);
        }
    }

    @Override
    public void insert(ProxyKey key) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement(
                        "INSERT INTO " + table + " (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            p.setString(1, key.id());
            p.setString(2, key.displayPrefix());
            p.setString(3, key.hash());
            p.setString(4, key.name());
            setText(p, 5, key.owner());
            p.setString(6, key.policy());
            setTime(p, 7, key.createdAt());
            setTime(p, 8, key.expiresAt());
            setTime(p, 9, key.revokedAt());
            setTime(p, 10, key.lastUsedAt());
            p.executeUpdate();
        } catch (SQLException e) {
            throw failure("store a proxy key", e);
        }
    }

    /**
     * Replaces everything but the id, the creation time and the last use (which {@link #touch} records); a
     * revocation time once stored stays (revocation is final, even against a change from another instance).
     */
    @Override
    public boolean update(ProxyKey key) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement(
                        "UPDATE " + table + " SET display_prefix = ?, key_hash = ?,"
                                + " name = ?, owner = ?, policy = ?, expires_at = ?, revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")) {
            p.setString(1, key.displayPrefix());
            p.setString(2, key.hash());
            p.setString(3, key.name());
            setText(p, 4, key.owner());
            p.setString(5, key.policy());
            setTime(p, 6, key.expiresAt());
            setTime(p, 7, key.revokedAt());
            p.setString(8, key.id());
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw failure("change a proxy key", e);
        }
    }

    /** As {@link #update}, in one statement that matches the expected hash, policy and revocation. */
    @Override
    public boolean replace(ProxyKey expected, ProxyKey changed) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("UPDATE " + table + " SET display_prefix = ?, key_hash = ?,"
                        + " name = ?, owner = ?, policy = ?, expires_at = ?, revoked_at = COALESCE(revoked_at, ?)"
                        + " WHERE id = ? AND key_hash = ? AND policy = ? AND revoked_at IS "
                        + (expected.revokedAt() == null ? "NULL" : "NOT NULL"))) {
            p.setString(1, changed.displayPrefix());
            p.setString(2, changed.hash());
            p.setString(3, changed.name());
            setText(p, 4, changed.owner());
            p.setString(5, changed.policy());
            setTime(p, 6, changed.expiresAt());
            setTime(p, 7, changed.revokedAt());
            p.setString(8, changed.id());
            p.setString(9, expected.hash());
            p.setString(10, expected.policy());
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw failure("change a proxy key", e);
        }
    }

    /** Records a use; an older time than the one stored is ignored (instances may race). */
    @Override
    public void touch(String id, Instant at) {
        if (id == null || !WELL_FORMED.matcher(id).matches()) {
            return;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("UPDATE " + table
                        + " SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")) {
            setTime(p, 1, at);
            p.setString(2, id);
            setTime(p, 3, at);
            p.executeUpdate();
        } catch (SQLException e) {
            throw failure("record a proxy key's use", e);
        }
    }

    private static void setText(PreparedStatement p, int index, String value) throws SQLException {
        if (value == null) {
            p.setNull(index, Types.VARCHAR);
        } else {
            p.setString(index, value);
        }
    }

    private static ProxyKey read(ResultSet rs) throws SQLException {
        return new ProxyKey(
                rs.getString("id"),
                rs.getString("display_prefix"),
                rs.getString("key_hash"),
                rs.getString("name"),
                rs.getString("owner"),
                rs.getString("policy"),
                instant(rs, "created_at"),
                instant(rs, "expires_at"),
                instant(rs, "revoked_at"),
                instant(rs, "last_used_at"));
    }
}
