package io.github.openaiproxy.examples.standalone;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsBinder;
import io.github.openaiproxy.core.config.SettingsCatalog;
import io.github.openaiproxy.core.session.InMemorySessionStore;
import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.core.session.SessionStore;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Where the standalone server keeps chat sessions, from the environment:
 *
 * <ul>
 *   <li>{@code OPENAI_PROXY_SESSIONS_STORE} (core's {@code sessions.store}): {@code auto} (default) or
 *       {@code jdbc}, the database; {@code memory} (lost on restart). {@code auto} means the database when
 *       there is one, as in the Spring starter; this server always has one (its H2 file by default), so
 *       {@code auto} is {@code jdbc} here.
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
 *   <li>{@code OPENAI_PROXY_SESSIONS_RETENTION} (core's {@code sessions.retention}): how long a session is
 *       kept after its last message ({@code 30d}, {@code 12h}, ...); default forever in the database, 24
 *       hours in memory
 * </ul>
 *
 * The {@code db.*} settings are this server's, in {@link #SETTINGS}; all are read by core's settings
 * binder. The pool is HikariCP; the store is core's {@link SessionStore#jdbc}, which creates its tables.
 */
final class SessionStorage implements AutoCloseable {
    /** The default database, relative to the working directory. */
    static final String DEFAULT_URL = "jdbc:h2:file:./data/openai-proxy";
    /**
     * How long a start goes on opening an H2 file whose lock another server, started at the same moment, is writing
     * (H2 itself waits about four seconds for a lock file to stop changing).
     */
    static final Duration H2_LOCK_WAIT = Duration.ofSeconds(20);

    /** The standalone server's own settings: its session database. */
    static final SettingsCatalog SETTINGS = SettingsCatalog.of(
            // A JDBC URL may carry a password: never repeated in messages.
            Setting.of("db.url", Setting.Type.SECRET, DEFAULT_URL, "The JDBC URL of the session database."),
            Setting.string("db.user", null, "The database user (H2: sa)."),
            Setting.of("db.password", Setting.Type.SECRET, null, "The database password."),
            Setting.of("db.pool-size", Setting.Type.INT, "10", "Connections in the HikariCP pool."),
            Setting.of(
                    "db.connection-timeout",
                    Setting.Type.DURATION,
                    "3s",
                    "The longest wait for a connection of the pool; then the call fails (503)."));

    /** HikariCP's smallest connection timeout. */
    private static final Duration MIN_CONNECTION_TIMEOUT = Duration.ofMillis(250);

    private final SessionStore store;
    private final HikariDataSource dataSource;
    private final String description;

    private SessionStorage(SessionStore store, HikariDataSource dataSource, String description) {
        this.store = store;
        this.dataSource = dataSource;
        this.description = description;
    }

    /**
     * Opens the store, with {@code clock} for creation times and retention; the default H2 file is under {@code workDir} ({@code null}: the working directory,
     * tests give a directory of their own).
     */
    static SessionStorage open(Map<String, String> env, Clock clock, Path workDir) {
        ProxySettings core = ProxySettings.fromEnvironment(env);
        String kind = core.sessionStore();
        Duration retention = core.sessionRetention();
        if (kind.equals("memory")) {
            Duration kept = retention == null ? InMemorySessionStore.DEFAULTS.idleTimeout() : retention;
            return new SessionStorage(
                    SessionStore.inMemory(kept, clock),
                    null,
                    "in memory (lost on restart; kept " + kept + " after last use)");
        }
        // auto or jdbc: this server always has a database.
        HikariDataSource dataSource = pool(env, workDir, "openai-proxy-sessions");
        String url = dataSource.getJdbcUrl();
        try {
            SessionStore store = JdbcSessionStore.builder(dataSource)
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

    /**
     * The configured database's URL; unset, the default H2 file under {@code workDir} ({@code null}: the working
     * directory). No DB_CLOSE_ON_EXIT=FALSE: H2 refuses it with AUTO_SERVER=TRUE, and sharing the file matters more
     * than H2 closing the database in its own shutdown hook before the pool is closed.
     */
    private static String url(SettingsBinder db, Path workDir) {
        if (db.isSet("db.url")) {
            return db.value("db.url");
        }
        return workDir == null
                ? DEFAULT_URL
                : "jdbc:h2:file:" + workDir.toAbsolutePath().resolve("data").resolve("openai-proxy");
    }

    /**
     * A pool on the configured database ({@code db.*}; the default H2 file is under {@code workDir}, {@code null}:
     * the working directory), for the session store and for the key and policy stores.
     */
    static HikariDataSource pool(Map<String, String> env, Path workDir, String name) {
        SettingsBinder db = SettingsBinder.fromEnvironment(SETTINGS, env);
        String url = url(db, workDir);
        if (!url.startsWith("jdbc:")) {
            throw db.invalid("db.url", "expected a JDBC URL (jdbc:...)");
        }
        url = shared(url);
        int poolSize = db.value("db.pool-size");
        if (poolSize < 1) {
            throw db.invalid("db.pool-size", "must be at least 1");
        }
        // A connection comes from a healthy pool in milliseconds; a longer wait means the database is down or
        // overloaded, and each waiting call holds a thread: fail fast (the store answers 503) instead of HikariCP's
        // 30 s (the 10 s this server used to set held every session call that long while the database was down).
        Duration connectionTimeout = db.value("db.connection-timeout");
        if (connectionTimeout.compareTo(MIN_CONNECTION_TIMEOUT) < 0) {
            throw db.invalid("db.connection-timeout", "must be at least 250ms");
        }
        String user = db.value("db.user");
        String password = db.value("db.password");
        String jdbcUrl = url;
        long giveUp = System.nanoTime() + H2_LOCK_WAIT.toNanos();
        while (true) {
            HikariConfig hikari = new HikariConfig();
            hikari.setPoolName(name);
            hikari.setJdbcUrl(jdbcUrl);
            hikari.setUsername(user != null ? user : jdbcUrl.startsWith("jdbc:h2:") ? "sa" : null);
            hikari.setPassword(password);
            hikari.setMaximumPoolSize(poolSize);
            hikari.setConnectionTimeout(connectionTimeout.toMillis());
            try {
                return new HikariDataSource(hikari);
            } catch (RuntimeException e) {
                if (!isH2LockRace(e) || System.nanoTime() - giveUp > 0) {
                    throw new IllegalStateException(
                            "could not open the database " + describe(url) + ": " + e.getMessage(), e);
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted opening the database " + describe(url), e);
                }
            }
        }
    }

    /** What H2's lock file says when another process is taking it at the same moment (error 8000). */
    private static final List<String> H2_LOCK_RACES =
            List.of("Lock file recently modified", "Another process was faster", "Concurrent update");

    /**
     * Whether opening failed on H2's lock file while another server was opening the same file: servers started at
     * the same moment in one directory meet it, and the one that goes again a moment later shares the file through
     * the first one's mixed mode.
     */
    private static boolean isH2LockRace(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.sql.SQLException sql
                    && t.getClass().getName().startsWith("org.h2.")
                    && (sql.getErrorCode() == 90020
                            || (sql.getErrorCode() == 8000
                                    && H2_LOCK_RACES.stream().anyMatch(String.valueOf(sql.getMessage())::contains)))) {
                return true;
            }
        }
        return false;
    }

    SessionStore store() {
        return store;
    }

    /** The database pool of the JDBC store, or {@code null} when sessions are kept in memory. */
    HikariDataSource dataSource() {
        return dataSource;
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
    /**
     * The file of the configured database when it is an embedded H2 file ({@code <path>.mv.db}), for a reader that
     * must not create one (H2 creates an empty database where none is); empty for any other database.
     */
    static Optional<Path> h2File(Map<String, String> env, Path workDir) {
        String url = url(SettingsBinder.fromEnvironment(SETTINGS, env), workDir);
        String rest = url.startsWith("jdbc:h2:file:")
                ? url.substring("jdbc:h2:file:".length())
                : url.startsWith("jdbc:h2:./") || url.startsWith("jdbc:h2:/") || url.startsWith("jdbc:h2:~")
                        ? url.substring("jdbc:h2:".length())
                        : null;
        if (rest == null) {
            return Optional.empty();
        }
        int semi = rest.indexOf(';');
        String path = semi < 0 ? rest : rest.substring(0, semi);
        if (path.startsWith("~")) {
            path = System.getProperty("user.home") + path.substring(1);
        }
        try {
            return Optional.of(Path.of(path + ".mv.db"));
        } catch (java.nio.file.InvalidPathException e) {
            return Optional.empty(); // H2 will say what is wrong with it
        }
    }

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
}
