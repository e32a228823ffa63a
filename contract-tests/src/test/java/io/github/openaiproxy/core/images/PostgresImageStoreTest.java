package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.TestPostgres;
import io.github.openaiproxy.testkit.ImageStoreContract;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.time.Clock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The JDBC image store on a real PostgreSQL server, named by {@code OPENAI_PROXY_TEST_PG_URL}, as the key
 * store's test: required (a failure, not a skip) when {@code OPENAI_PROXY_PG_TESTS=required}. Tables of a
 * prefix of their own, dropped afterwards.
 */
class PostgresImageStoreTest extends ImageStoreContract {
    static final String PREFIX = TestPostgres.newPrefix('i');
    static ImageStore store;

    @BeforeAll
    static void connect() {
        TestPostgres.requireOrSkip();
        store = JdbcImageStore.create(pgDataSource(), PREFIX, Clock.systemUTC());
    }

    @AfterAll
    static void dropTables() throws Exception {
        if (store == null) {
            return;
        }
        TestPostgres.dropTables(PREFIX, "images", "images_schema_version");
    }

    static javax.sql.DataSource pgDataSource() {
        return TestPostgres.dataSource();
    }

    @Override
    protected ImageStore store() {
        return store;
    }

    /**
     * Two instances sweep expired images at once: one does not wait for the rows the other holds (it would keep one of
     * the engine's four image threads for the other's whole sweep), and every expired image goes.
     */
    @Test
    void aSweepDoesNotWaitForAnotherInstancesSweep() throws Exception {
        String prefix = TestPostgres.newPrefix('j');
        java.time.Instant made = java.time.Instant.parse("2020-01-01T00:00:00Z");
        ImageStore a = JdbcImageStore.create(pgDataSource(), prefix, Clock.fixed(made, java.time.ZoneOffset.UTC));
        try (java.sql.Connection other = pgDataSource().getConnection()) {
            java.util.List<String> ids = new java.util.ArrayList<>();
            for (int i = 0; i < 3; i++) {
                String id = ImageIds.newId();
                a.put(id, "image/png", null, new ByteArrayInputStream(image(100, i)), 1000);
                ids.add(id);
            }
            other.setAutoCommit(false);
            try (java.sql.PreparedStatement lock =
                    other.prepareStatement("SELECT id FROM " + prefix + "images WHERE id = ? FOR UPDATE")) {
                lock.setString(1, ids.get(0));
                lock.executeQuery().close();
            }
            java.util.concurrent.CompletableFuture<Integer> sweep =
                    java.util.concurrent.CompletableFuture.supplyAsync(() -> a.deleteExpired(made.plusSeconds(1)));
            try {
                assertThat(sweep.get(5, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(2);
            } finally {
                other.rollback();
            }
            assertThat(a.find(ids.get(0))).isPresent(); // the other instance's to delete
            assertThat(a.find(ids.get(1))).isEmpty();
        } finally {
            TestPostgres.dropTables(prefix, "images", "images_schema_version");
        }
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
