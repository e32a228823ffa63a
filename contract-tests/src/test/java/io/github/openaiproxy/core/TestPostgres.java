package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The real PostgreSQL server the JDBC stores' tests run against, named by {@code OPENAI_PROXY_TEST_PG_URL}
 * (with {@code OPENAI_PROXY_TEST_PG_USER} and {@code OPENAI_PROXY_TEST_PG_PASSWORD}). {@code .ci/run} starts
 * one and sets {@code OPENAI_PROXY_PG_TESTS=required}: there a missing server fails the tests; elsewhere they
 * are skipped. Each test class keeps its tables under a prefix of its own and drops them afterwards.
 */
public final class TestPostgres {
    private static final String URL = System.getenv("OPENAI_PROXY_TEST_PG_URL");

    private TestPostgres() {}

    /** Fails (in CI) or skips the calling test class when no server is named. */
    public static void requireOrSkip() {
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(URL)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(
                URL != null && !URL.isBlank(),
                "OPENAI_PROXY_TEST_PG_URL is not set: PostgreSQL tests skipped (.ci/run starts a server and sets it)");
    }

    /** A data source on the server. */
    public static PGSimpleDataSource dataSource() {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setUrl(URL);
        String user = System.getenv("OPENAI_PROXY_TEST_PG_USER");
        if (user != null) {
            ds.setUser(user);
        }
        ds.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        return ds;
    }

    /**
     * A pool on the server, as an application's {@code DataSource} is (the caller closes it): for the cases that run
     * many calls at once, where opening a connection per call (about 20 ms on some machines here) would be slower
     * than the stores' timeouts.
     */
    public static com.zaxxer.hikari.HikariDataSource pool() {
        com.zaxxer.hikari.HikariConfig config = new com.zaxxer.hikari.HikariConfig();
        config.setDataSource(dataSource());
        config.setMaximumPoolSize(8);
        return new com.zaxxer.hikari.HikariDataSource(config);
    }

    /** A table prefix no other run uses: {@code letter} and eight random characters. */
    public static String newPrefix(char letter) {
        return letter + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";
    }

    /** Drops {@code prefix + table} for each table, in order. */
    public static void dropTables(String prefix, String... tables) throws SQLException {
        try (Connection c = dataSource().getConnection();
                Statement s = c.createStatement()) {
            for (String t : tables) {
                s.execute("DROP TABLE IF EXISTS " + prefix + t);
            }
        }
    }
}
