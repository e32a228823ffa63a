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
