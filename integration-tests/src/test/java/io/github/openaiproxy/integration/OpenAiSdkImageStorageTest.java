package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.wireMockConfig;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.images.Image;
import com.openai.models.images.ImageGenerateParams;
import com.openai.models.images.ImageModel;
import com.openai.models.images.ImagesResponse;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official openai-java client's {@code images().generate(...)} through a proxy that stores images gets the
 * proxy's links, and they serve the images after the upstream's links have expired.
 */
class OpenAiSdkImageStorageTest {
    @RegisterExtension
    static WireMockExtension upstream = WireMockExtension.newInstance()
            .options(wireMockConfig().dynamicPort().bindAddress("127.0.0.1"))
            .build();

    @TempDir
    Path directory;

    TomcatProxy proxy;
    OpenAIClient client;

    @AfterEach
    void stop() {
        // Null when a test was skipped before starting them (no PostgreSQL by hand).
        if (client != null) {
            client.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    static byte[] png(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, b, 0, 8);
        return b;
    }

    @Test
    void generatedImagesComeBackAsWorkingProxyLinks() throws Exception {
        byte[] one = png(20_000, 1);
        byte[] two = png(30_000, 2);
        upstream.stubFor(get("/files/1.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(one)));
        upstream.stubFor(get("/files/2.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(two)));
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1713833628,\"data\":[{\"url\":\"" + upstream.baseUrl()
                                + "/files/1.png\"},{\"url\":\"" + upstream.baseUrl() + "/files/2.png\"}]}")));
        ProxyEngine engine = ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(FilesystemImageStore.create(directory))
                .build();
        proxy = TomcatProxy.servlet(engine);
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();

        ImagesResponse response = client.images()
                .generate(ImageGenerateParams.builder()
                        .model(ImageModel.DALL_E_2)
                        .prompt("A cute baby sea otter")
                        .n(2)
                        .build());

        List<String> urls = response.data().orElseThrow().stream()
                .map(Image::url)
                .map(u -> u.orElseThrow())
                .toList();
        assertThat(urls).hasSize(2).allMatch(u -> u.matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png"));
        upstream.stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403)));
        HttpClient http = HttpClient.newHttpClient();
        for (int i = 0; i < 2; i++) {
            HttpResponse<byte[]> image = http.send(
                    HttpRequest.newBuilder(proxy.uri(urls.get(i))).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(image.statusCode()).isEqualTo(200);
            assertThat(image.headers().firstValue("Content-Type")).hasValue("image/png");
            assertThat(image.body()).isEqualTo(i == 0 ? one : two);
        }
    }

    /** Two proxies on one PostgreSQL: an image one of them stored is served by the other, byte for byte. */
    @Test
    void twoInstancesOnOnePostgresServeEachOthersImages() throws Exception {
        String url = System.getenv("OPENAI_PROXY_TEST_PG_URL");
        if ("required".equals(System.getenv("OPENAI_PROXY_PG_TESTS"))) {
            assertThat(url)
                    .as("OPENAI_PROXY_TEST_PG_URL (.ci/run starts PostgreSQL)")
                    .isNotBlank();
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(
                url != null && !url.isBlank(), "OPENAI_PROXY_TEST_PG_URL is not set");
        org.postgresql.ds.PGSimpleDataSource pg = new org.postgresql.ds.PGSimpleDataSource();
        pg.setURL(url);
        pg.setUser(System.getenv("OPENAI_PROXY_TEST_PG_USER"));
        pg.setPassword(System.getenv("OPENAI_PROXY_TEST_PG_PASSWORD"));
        // A table prefix of this run's own, dropped afterwards.
        String prefix = "i" + java.util.UUID.randomUUID().toString().substring(0, 8) + "_";
        byte[] image = png(40_000, 3);
        upstream.stubFor(get("/files/3.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(image)));
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1713833628,\"data\":[{\"url\":\"" + upstream.baseUrl()
                                + "/files/3.png\"}]}")));
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(URI.create(upstream.baseUrl())))
                .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.JDBC))
                .build();
        TomcatProxy other = null;
        try {
            proxy = TomcatProxy.servlet(ProxyEngine.builder(config)
                    .imageStore(io.github.openaiproxy.core.images.JdbcImageStore.create(
                            pg, prefix, java.time.Clock.systemUTC()))
                    .build());
            other = TomcatProxy.servlet(ProxyEngine.builder(config)
                    .imageStore(io.github.openaiproxy.core.images.JdbcImageStore.create(
                            pg, prefix, java.time.Clock.systemUTC()))
                    .build());
            client = OpenAIOkHttpClient.builder()
                    .baseUrl("http://127.0.0.1:" + proxy.port() + "/v1")
                    .apiKey("sk-client-placeholder")
                    .maxRetries(0)
                    .build();

            String link = client.images()
                    .generate(ImageGenerateParams.builder()
                            .model(ImageModel.DALL_E_2)
                            .prompt("A lighthouse")
                            .build())
                    .data()
                    .orElseThrow()
                    .get(0)
                    .url()
                    .orElseThrow();
            assertThat(link).matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png");
            upstream.stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403))); // the upstream's link expired
            HttpResponse<byte[]> served = HttpClient.newHttpClient()
                    .send(HttpRequest.newBuilder(other.uri(link)).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(served.statusCode()).isEqualTo(200);
            assertThat(served.body()).isEqualTo(image);
        } finally {
            if (other != null) {
                other.close();
            }
            try (java.sql.Connection c = pg.getConnection();
                    java.sql.Statement st = c.createStatement()) {
                for (String t : new String[] {"images", "images_schema_version"}) {
                    st.execute("DROP TABLE IF EXISTS " + prefix + t + " CASCADE");
                }
            }
        }
    }
}
