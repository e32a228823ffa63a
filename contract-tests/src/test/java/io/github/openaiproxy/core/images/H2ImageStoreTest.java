package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.session.JdbcSessionStore;
import io.github.openaiproxy.testkit.ImageStoreContract;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Clock;
import java.util.UUID;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

/** The JDBC image store on embedded H2 passes the kit and keeps its own schema numbering. */
class H2ImageStoreTest extends ImageStoreContract {
    private static final JdbcDataSource DATABASE =
            dataSource("jdbc:h2:mem:images-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
    private static final ImageStore STORE = JdbcImageStore.create(DATABASE);

    @Override
    protected ImageStore store() {
        return STORE;
    }

    static JdbcDataSource dataSource(String url) {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL(url);
        ds.setUser("sa");
        ds.setPassword("");
        return ds;
    }

    @Test
    void migrationRunsOnceBesideTheSessionTables() throws Exception {
        JdbcDataSource ds = dataSource("jdbc:h2:mem:imgmigrate-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        JdbcSessionStore.builder(ds).build();
        JdbcImageStore.create(ds);
        JdbcImageStore.create(ds); // a second instance starting
        try (Connection c = ds.getConnection()) {
            ResultSet rs = c.createStatement()
                    .executeQuery("SELECT COUNT(*), MAX(version) FROM openai_proxy_images_schema_version");
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(1);
            assertThat(rs.getInt(2)).isEqualTo(1);
        }
    }

    @Test
    void aTablePrefixIsChecked() {
        assertThatThrownBy(() -> JdbcImageStore.create(DATABASE, "x; DROP TABLE y", Clock.systemUTC()))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
