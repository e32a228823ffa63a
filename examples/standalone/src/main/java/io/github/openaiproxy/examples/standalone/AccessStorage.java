package io.github.openaiproxy.examples.standalone;

import com.zaxxer.hikari.HikariDataSource;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the standalone server keeps proxy keys, the policies managed through the admin API and the audit log:
 * always its database ({@code OPENAI_PROXY_DB_URL}, an H2 file by default), the session database's pool when
 * sessions are kept there, a pool of its own otherwise, so that {@code keys ...} on the command line and the
 * running server see the same keys.
 */
final class AccessStorage implements AutoCloseable {
    private final ProxyKeyStore keys;
    private final PolicyStore policies;
    private final AuditLog audit;
    /** The pool this storage opened itself, else {@code null} (the sessions' pool is theirs to close). */
    private final HikariDataSource ownPool;

    private AccessStorage(ProxyKeyStore keys, PolicyStore policies, AuditLog audit, HikariDataSource ownPool) {
        this.keys = keys;
        this.policies = policies;
        this.audit = audit;
        this.ownPool = ownPool;
    }

    /** On the sessions' database when they have one, else on a pool of its own. */
    static AccessStorage open(Map<String, String> env, SessionStorage sessions, Path workDir) {
        HikariDataSource shared = sessions == null ? null : sessions.dataSource();
        HikariDataSource own = shared == null ? SessionStorage.pool(env, workDir, "openai-proxy-keys") : null;
        HikariDataSource ds = shared != null ? shared : own;
        try {
            return new AccessStorage(
                    JdbcProxyKeyStore.create(ds), JdbcPolicyStore.create(ds), JdbcAuditLog.create(ds), own);
        } catch (RuntimeException e) {
            if (own != null) {
                own.close();
            }
            throw e;
        }
    }

    /** The pool of its own, or {@code null} when it shares the sessions' database. */
    HikariDataSource ownPool() {
        return ownPool;
    }

    ProxyKeyStore keys() {
        return keys;
    }

    PolicyStore policies() {
        return policies;
    }

    AuditLog audit() {
        return audit;
    }

    @Override
    public void close() {
        if (ownPool != null) {
            ownPool.close();
        }
    }
}
