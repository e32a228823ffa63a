package io.github.openaiproxy.examples.standalone;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.session.InMemorySessions;
import io.github.openaiproxy.core.session.JdbcSessions;
import io.github.openaiproxy.core.session.SessionStore;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;

/**
 * Where the standalone server keeps chat sessions, from the environment:
 *
 * <ul>
 *   <li>{@code OPENAI_PROXY_SESSIONS_STORE}: {@code jdbc} (default) or {@code memory} (lost on restart)
 *   <li>{@code OPENAI_PROXY_DB_URL}: the JDBC URL; default an embedded H2 file,
 *       {@code jdbc:h2:file:./data/openai-proxy} (under the working directory), so history survives a
 *       restart. An H2 file ({@code jdbc:h2:file:...}, the default too) is opened in H2's mixed mode
 *       ({@code AUTO_SERVER=TRUE}) unless the URL sets {@code AUTO_SERVER} or {@code DB_CLOSE_ON_EXIT=FALSE}
 *       (H2 refuses that pair): a second server started in the same directory shares the file instead of
 *       failing on its lock. A {@code jdbc:postgresql://...} URL shares history between instances on
 *       several hosts.
 *   <li>{@code OPENAI_PROXY_DB_USER}, {@code OPENAI_PROXY_DB_PASSWORD}: the credentials (H2 default
 *       {@code sa} and no password)
 *   <li>{@code OPENAI_PROXY_DB_POOL_SIZE}: connections in the pool (default 10)
 *   <li>{@code OPENAI_PROXY_SESSIONS_RETENTION}: how long a session is kept after its last message
 *       ({@code 30d}, {@code 12h}, ...); default forever in the database, 24 hours in memory
 * </ul>
 *
 * The pool is HikariCP; the store is core's {@link SessionStore#jdbc}, which creates its tables.
 */
final class SessionStorage implements AutoCloseable {
    /** The default database, relative to the working directory. */
    static final String DEFAULT_URL = "jdbc:h2:file:./data/openai-proxy";

    static final String RETENTION = "OPENAI_PROXY_SESSIONS_RETENTION";

    private final SessionStore store;
    private final HikariDataSource dataSource;
    private final String description;

    private SessionStorage(SessionStore store, HikariDataSource dataSource, String description) {
        this.store = store;
        this.dataSource = dataSource;
        this.description = description;
    }

    static SessionStorage open(Map<String, String> env) {
        return open(env, Clock.systemUTC());
    }

    /** Opens the store with {@code clock} for creation times and retention. */
    static SessionStorage open(Map<String, String> env, Clock clock) {
        return open(env, clock, null);
    }

    /**
     * Opens the store; the default H2 file is under {@code workDir} ({@code null}: the working directory,
     * tests give a directory of their own).
     */
    static SessionStorage open(Map<String, String> env, Clock clock, Path workDir) {
        String kind =
                env.getOrDefault("OPENAI_PROXY_SESSIONS_STORE", "jdbc").strip().toLowerCase(Locale.ROOT);
        Duration retention = retention(env.get(RETENTION));
        if (kind.equals("memory")) {
            Duration kept = retention == null ? InMemorySessions.DEFAULTS.idleTimeout() : retention;
            InMemorySessions.Limits limits = InMemorySessions.DEFAULTS.withIdleTimeout(kept);
            return new SessionStorage(
                    InMemorySessions.builder().limits(limits).clock(clock).build(),
                    null,
                    "in memory (lost on restart; kept " + kept + " after last use)");
        }
        if (!kind.equals("jdbc") && !kind.isEmpty()) {
            throw new IllegalArgumentException(
                    "Invalid setting 'OPENAI_PROXY_SESSIONS_STORE': expected jdbc or memory, got " + kind);
        }
        String url = blankToNull(env.get("OPENAI_PROXY_DB_URL"));
        if (url == null) {
            // No DB_CLOSE_ON_EXIT=FALSE: H2 refuses it with AUTO_SERVER=TRUE, and sharing the file matters
            // more than H2 closing the database in its own shutdown hook before the pool is closed.
            url = workDir == null
                    ? DEFAULT_URL
                    : "jdbc:h2:file:" + workDir.toAbsolutePath().resolve("data").resolve("openai-proxy");
        }
        if (!url.startsWith("jdbc:")) {
            throw new IllegalArgumentException("Invalid setting 'OPENAI_PROXY_DB_URL': expected a JDBC URL (jdbc:...)");
        }
        url = shared(url);
        HikariConfig hikari = new HikariConfig();
        hikari.setPoolName("openai-proxy-sessions");
        hikari.setJdbcUrl(url);
        String user = blankToNull(env.get("OPENAI_PROXY_DB_USER"));
        hikari.setUsername(user != null ? user : url.startsWith("jdbc:h2:") ? "sa" : null);
        hikari.setPassword(env.get("OPENAI_PROXY_DB_PASSWORD"));
        hikari.setMaximumPoolSize(poolSize(env.get("OPENAI_PROXY_DB_POOL_SIZE")));
        hikari.setConnectionTimeout(10_000);
        HikariDataSource dataSource;
        try {
            dataSource = new HikariDataSource(hikari);
        } catch (RuntimeException e) {
            throw new IllegalStateException(
                    "could not open the session database " + describe(url) + ": " + e.getMessage(), e);
        }
        try {
            SessionStore store = JdbcSessions.builder(dataSource)
                    .retention(retention)
                    .clock(clock)
                    .build();
            String kept = retention == null ? "kept until deleted" : "kept " + retention + " after the last message";
            return new SessionStorage(store, dataSource, describe(url) + " (" + kept + ")");
        } catch (RuntimeException e) {
            dataSource.close();
            throw e;
        }
    }

    SessionStore store() {
        return store;
    }

    /** Where the sessions are, for the start-up log line (never credentials). */
    String description() {
        return description;
    }

    @Override
    public void close() {
        store.close();
        if (dataSource != null) {
            dataSource.close();
        }
    }

    /**
     * An H2 file URL in H2's mixed mode ({@code AUTO_SERVER=TRUE}): the first server to open the file
     * serves it to the others over a TCP port on loopback (see {@link StandaloneServer#h2OnLoopback}), so
     * two servers in one directory share it instead of the second failing on the file lock. A URL that
     * sets {@code AUTO_SERVER} itself is kept as it is, and so is one with {@code DB_CLOSE_ON_EXIT=FALSE}
     * (not shared: a second server fails on the lock). Both {@code AUTO_SERVER=TRUE} and
     * {@code DB_CLOSE_ON_EXIT=FALSE}, which H2 refuses with "Feature not supported", fail here, naming them.
     */
    static String shared(String url) {
        if (!url.startsWith("jdbc:h2:file:")) {
            return url;
        }
        String upper = url.toUpperCase(Locale.ROOT).replace(" ", "");
        boolean autoServer = upper.contains(";AUTO_SERVER=TRUE");
        boolean keepOpen = upper.contains(";DB_CLOSE_ON_EXIT=FALSE");
        if (autoServer && keepOpen) {
            throw new IllegalArgumentException("Invalid setting 'OPENAI_PROXY_DB_URL': H2 cannot combine"
                    + " AUTO_SERVER=TRUE (a file shared by several servers) with DB_CLOSE_ON_EXIT=FALSE; remove one");
        }
        return upper.contains(";AUTO_SERVER=") || keepOpen ? url : url + ";AUTO_SERVER=TRUE";
    }

    /** The URL without its query or properties, which may carry a password. */
    static String describe(String url) {
        String s = url;
        int q = s.indexOf('?');
        if (q >= 0) {
            s = s.substring(0, q);
        }
        if (s.startsWith("jdbc:h2:")) {
            int semi = s.indexOf(';');
            if (semi >= 0) {
                s = s.substring(0, semi);
            }
        }
        return s;
    }

    private static int poolSize(String v) {
        if (v == null || v.isBlank()) {
            return 10;
        }
        try {
            int n = Integer.parseInt(v.strip());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(
                "Invalid setting 'OPENAI_PROXY_DB_POOL_SIZE': expected a positive integer, got " + v);
    }

    private static Duration retention(String v) {
        return v == null || v.isBlank() ? null : positive(ProxySettings.duration(RETENTION, v));
    }

    private static Duration positive(Duration d) {
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("Invalid setting '" + RETENTION + "': must be positive, got " + d);
        }
        return d;
    }

    private static String blankToNull(String v) {
        return v == null || v.isBlank() ? null : v.strip();
    }
}
