package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.ImageStoreContract;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.util.Locale;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The JDBC image store on a real PostgreSQL server, named by {@code OPENAI_PROXY_TEST_PG_URL}, as the key
 * store's test: required (a failure, not a skip) when {@code OPENAI_PROXY_PG_TESTS=required}. Tables of a
 * prefix of their own, dropped afterwards.
 */
class PostgresImageStoreTest extends ImageStoreContract {
    static final String URL = System.getenv("OPENAI_PROXY_TEST_PG_URL");
    static final String PREFIX =
            "i" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";
    static ImageStore store;

    @BeforeAll
    static void connect() {
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            // CI starts a server: there a missing one is a failure, not a skipped test.
            assertThat(URL)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(
                URL != null && !URL.isBlank(),
                "OPENAI_PROXY_TEST_PG_URL is not set: PostgreSQL tests skipped (.ci/run starts a server and sets it)");
        store = JdbcImageStore.create(pgDataSource(), PREFIX, Clock.systemUTC());
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (store == null) {
            return;
        }
        try (Connection c = pgDataSource().getConnection();
                Statement s = c.createStatement()) {
            for (String t : new String[] {"images", "images_schema_version"}) {
                s.execute("DROP TABLE IF EXISTS " + PREFIX + t);
            }
        }
    }

    static PGSimpleDataSource pgDataSource() {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setUrl(URL);
        String user = System.getenv("OPENAI_PROXY_TEST_PG_USER");
        if (user != null) {
            ds.setUser(user);
        }
        ds.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        return ds;
    }

    @Override
    protected ImageStore store() {
        return store;
    }

    /** An image stored by one instance is what another instance on the database serves. */
    @Test
    void twoInstancesServeEachOthersImages() throws Exception {
        ImageStore a = JdbcImageStore.create(pgDataSource(), PREFIX, Clock.systemUTC());
        ImageStore b = JdbcImageStore.create(pgDataSource(), PREFIX, Clock.systemUTC());
        byte[] bytes = image(1000, 42);
        String id = ImageIds.newId();
        a.put(id, "image/png", null, new ByteArrayInputStream(bytes), 1000);
        try (InputStream in = b.open(id, 0, 1000).orElseThrow()) {
            assertThat(in.readAllBytes()).isEqualTo(bytes);
        }
    }
}
