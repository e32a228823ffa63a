package io.github.openaiproxy.core.access.jdbc;

import static io.github.openaiproxy.core.access.jdbc.AccessSchema.failure;

import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyJson;
import io.github.openaiproxy.core.access.PolicyStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The JDBC {@link PolicyStore}: one row per policy in {@code <prefix>policies}, the policy as a JSON document
 * ({@link PolicyJson}, the rule names of {@code policies.<name>.<rule>}), so new rules need no migration.
 */
public final class JdbcPolicyStore implements PolicyStore {
    private final DataSource dataSource;
    private final String table;

    private JdbcPolicyStore(DataSource dataSource, AccessSchema schema) {
        this.dataSource = dataSource;
        this.table = schema.policies;
    }

    /** A store on {@code dataSource} with the default table prefix {@code openai_proxy_}. */
    public static JdbcPolicyStore create(DataSource dataSource) {
        return create(dataSource, AccessSchema.DEFAULT_PREFIX);
    }

    /** A store whose table is {@code <prefix>policies}; creates or migrates the tables. */
    public static JdbcPolicyStore create(DataSource dataSource, String tablePrefix) {
        return new JdbcPolicyStore(dataSource, AccessSchema.migrate(dataSource, tablePrefix));
    }

    @Override
    public List<Policy> list() {
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("SELECT name, policy_json FROM " + table + " ORDER BY name");
                ResultSet rs = p.executeQuery()) {
            List<Policy> all = new ArrayList<>();
            while (rs.next()) {
                all.add(PolicyJson.fromJson(rs.getString(1), rs.getString(2)));
            }
            return all;
        } catch (SQLException e) {
            throw failure("list the policies", e);
        }
    }

    @Override
    public Optional<Policy> find(String name) {
        if (name == null || !PolicyJson.NAME.matcher(name).matches()) {
            return Optional.empty();
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("SELECT policy_json FROM " + table + " WHERE name = ?")) {
            p.setString(1, name);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? Optional.of(PolicyJson.fromJson(name, rs.getString(1))) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("read a policy", e);
        }
    }

    /** Creates or replaces the policy (update first, insert when there was none: portable, no MERGE). */
    @Override
    public void save(Policy policy) {
        if (!PolicyJson.NAME.matcher(policy.name()).matches()) {
            throw new IllegalArgumentException("invalid policy name");
        }
        String json = PolicyJson.toJson(policy);
        try (Connection c = dataSource.getConnection()) {
            try (PreparedStatement u =
                    c.prepareStatement("UPDATE " + table + " SET policy_json = ?, updated_at = ? WHERE name = ?")) {
                u.setString(1, json);
                AccessSchema.setTime(u, 2, Instant.now());
                u.setString(3, policy.name());
                if (u.executeUpdate() == 1) {
                    return;
                }
            }
            try (PreparedStatement i =
                    c.prepareStatement("INSERT INTO " + table + " (name, policy_json, updated_at) VALUES (?, ?, ?)")) {
                i.setString(1, policy.name());
                i.setString(2, json);
                AccessSchema.setTime(i, 3, Instant.now());
                i.executeUpdate();
            }
        } catch (SQLException e) {
            throw failure("store a policy", e);
        }
    }

    @Override
    public boolean delete(String name) {
        if (name == null || !PolicyJson.NAME.matcher(name).matches()) {
            return false;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("DELETE FROM " + table + " WHERE name = ?")) {
            p.setString(1, name);
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw failure("delete a policy", e);
        }
    }
}
