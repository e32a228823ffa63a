package io.github.openaiproxy.integration;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.images.JdbcImageStore;
import io.github.openaiproxy.core.images.StoredImage;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.integration.support.CountingDataSource;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.util.Locale;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A {@code Range} request for a JDBC-stored image takes only the range's bytes from the database (PostgreSQL's driver
 * holds a whole {@code BYTEA} value in memory: a 1-byte range of a 4 MB image used to fetch 4 MB), and answers as
 * before: the right bytes, {@code Content-Range}, {@code ETag}, 416 past the end. Over HTTP, on H2 and PostgreSQL,
 * counting the bytes of the binary values the store's result sets hand over.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JdbcImageRangeHttpTest {
    private static final int SIZE = 4 * 1024 * 1024;

    private final HttpClient http = HttpClient.newHttpClient();
    private final String prefix =
            "r" + UUID.randomUUID().toString().substring(0, 8).toLowerCase(Locale.ROOT) + "_";
    private TomcatProxy proxy;
    private PGSimpleDataSource pg;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (pg != null) {
            try (Connection c = pg.getConnection();
                    Statement s = c.createStatement()) {
                for (String t : new String[] {"images", "images_schema_version"}) {
                    s.execute("DROP TABLE IF EXISTS " + prefix + t);
                }
            }
        }
    }

    @Test
    void aRangeReadsOnlyItsBytesOnH2() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:image-range-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        aRangeReadsOnlyItsBytes(h2);
    }

    @Test
    void aRangeReadsOnlyItsBytesOnPostgres() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        Assumptions.assumeTrue(url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
        pg = new PGSimpleDataSource();
        pg.setURL(url);
        pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        aRangeReadsOnlyItsBytes(pg);
    }

    private void aRangeReadsOnlyItsBytes(DataSource db) throws Exception {
        CountingDataSource counting = new CountingDataSource(db);
        JdbcImageStore store = JdbcImageStore.create(counting.dataSource(), prefix, Clock.systemUTC());
        byte[] png = new byte[SIZE];
        new Random(7).nextBytes(png);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, png, 0, 8);
        StoredImage image = store.put(ImageIds.newId(), "image/png", null, new ByteArrayInputStream(png), SIZE);
        proxy = TomcatProxy.servlet(ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        // Never called: serving a stored image reaches no upstream.
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create("http://127.0.0.1:9")))
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.JDBC))
                        .build())
                .imageStore(store)
                .build());
        URI link = proxy.uri("/images/files/" + image.id() + ".png");

        counting.reset();
        HttpResponse<byte[]> first = get(link, "bytes=0-0");
        assertThat(first.statusCode()).isEqualTo(206);
        assertThat(first.body()).containsExactly(png[0]);
        assertThat(first.headers().firstValue("Content-Range")).hasValue("bytes 0-0/" + SIZE);
        assertThat(first.headers().firstValue("ETag")).hasValue(image.etag());
        assertThat(counting.bytes()).as("image bytes read from the database").isEqualTo(1);

        counting.reset();
        int at = 3_000_001;
        HttpResponse<byte[]> middle = get(link, "bytes=" + at + "-" + (at + 9));
        assertThat(middle.statusCode()).isEqualTo(206);
        assertThat(middle.body()).containsExactly(java.util.Arrays.copyOfRange(png, at, at + 10));
        assertThat(middle.headers().firstValue("Content-Range")).hasValue("bytes " + at + "-" + (at + 9) + "/" + SIZE);
        assertThat(counting.bytes()).as("image bytes read from the database").isEqualTo(10);

        counting.reset();
        HttpResponse<byte[]> last = get(link, "bytes=-1");
        assertThat(last.statusCode()).isEqualTo(206);
        assertThat(last.body()).containsExactly(png[SIZE - 1]);
        assertThat(counting.bytes()).isEqualTo(1);

        HttpResponse<byte[]> past = get(link, "bytes=" + SIZE + "-");
        assertThat(past.statusCode()).isEqualTo(416);
        assertThat(past.headers().firstValue("Content-Range")).hasValue("bytes */" + SIZE);

        HttpResponse<byte[]> whole = get(link, null);
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(png);
    }

    private HttpResponse<byte[]> get(URI link, String range) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(link);
        if (range != null) {
            request.header("Range", range);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }
}
