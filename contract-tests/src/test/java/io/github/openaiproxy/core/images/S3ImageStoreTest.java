package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.testkit.ImageStoreContract;
import io.github.openaiproxy.testsupport.S3MockServer;
import java.io.ByteArrayInputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The S3 store passes the kit against a real S3 implementation (Adobe's S3Mock, its own process), keeps its
 * metadata on the object where another client sees it, and presigns links S3 serves.
 */
class S3ImageStoreTest extends ImageStoreContract {
    private static final StaticCredentialsProvider CREDENTIALS =
            StaticCredentialsProvider.create(AwsBasicCredentials.create("test-key", "test-secret"));

    private static S3MockServer s3;
    private static S3ImageStore store;

    @BeforeAll
    static void start() {
        s3 = S3MockServer.start("images");
        store = S3ImageStore.create(config().withPrefix("kit/"), CREDENTIALS, Clock.systemUTC());
    }

    @AfterAll
    static void stop() {
        if (store != null) {
            store.close();
        }
        if (s3 != null) {
            s3.close();
        }
    }

    static S3Config config() {
        return S3Config.DEFAULTS
                .withBucket(s3.bucket())
                .withEndpoint(s3.endpoint())
                .withPathStyle(true)
                .withRegion("eu-west-1");
    }

    @Override
    protected ImageStore store() {
        return store;
    }

    private static S3Client client() {
        return S3Client.builder()
                .endpointOverride(s3.endpoint())
                .forcePathStyle(true)
                .region(Region.EU_WEST_1)
                .credentialsProvider(CREDENTIALS)
                .httpClientBuilder(software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient.builder())
                .build();
    }

    @Test
    void anImageIsOneObjectUnderThePrefixWithItsMetadata() {
        String id = ImageIds.newId();
        byte[] bytes = image(1_000, 20);
        StoredImage stored = store.put(id, "image/png", "user:zoë/ünïcode", new ByteArrayInputStream(bytes), 10_000);
        try (S3Client client = client()) {
            var head = client.headObject(r -> r.bucket(s3.bucket()).key("kit/" + id));
            assertThat(head.contentType()).isEqualTo("image/png");
            assertThat(head.contentLength()).isEqualTo(1_000);
            assertThat(head.metadata()).containsEntry("sha256", sha256(bytes));
            assertThat(head.metadata())
                    .containsEntry("created", stored.createdAt().toString());
        }
        // Non-ASCII owners survive the ASCII-only metadata.
        assertThat(store.find(id).orElseThrow().owner()).isEqualTo("user:zoë/ünïcode");
    }

    @Test
    void anotherPrefixIsAnotherStore() {
        String id = ImageIds.newId();
        store.put(id, "image/png", null, new ByteArrayInputStream(image(100, 21)), 1_000);
        try (S3ImageStore other = S3ImageStore.create(config().withPrefix("other/"), CREDENTIALS, Clock.systemUTC())) {
            assertThat(other.find(id)).isEmpty();
            assertThat(other.delete(id)).isFalse();
            assertThat(other.deleteExpired(java.time.Instant.now().plusSeconds(3600)))
                    .isZero();
        }
        assertThat(store.find(id)).isPresent();
    }

    @Test
    void presignedLinksServeTheBytesFromS3() throws Exception {
        String id = ImageIds.newId();
        byte[] bytes = image(5_000, 22);
        StoredImage stored = store.put(id, "image/png", null, new ByteArrayInputStream(bytes), 10_000);
        assertThat(store.directLink(stored)).isEmpty(); // no presign duration: the proxy serves the bytes
        try (S3ImageStore presigning = S3ImageStore.create(
                config().withPrefix("kit/").withPresign(Duration.ofMinutes(5)), CREDENTIALS, Clock.systemUTC())) {
            var link = presigning.directLink(stored).orElseThrow();
            assertThat(link.toString())
                    .startsWith(s3.endpoint() + "/images/kit/" + id)
                    .contains("X-Amz-Expires=300")
                    .contains("X-Amz-Signature=");
            HttpResponse<byte[]> got = HttpClient.newHttpClient()
                    .send(HttpRequest.newBuilder(link).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(got.statusCode()).isEqualTo(200);
            assertThat(got.body()).isEqualTo(bytes);
        }
    }

    @Test
    void settingsAreChecked() {
        assertThatThrownBy(() -> S3Config.DEFAULTS.withPrefix("../x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Config.DEFAULTS.withPrefix("/x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Config.DEFAULTS.withBucket("No_Such Bucket"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Config.DEFAULTS.withPresign(Duration.ofDays(8)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Config.DEFAULTS.withEndpoint(java.net.URI.create("ftp://x")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Images.create(S3Config.DEFAULTS))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("images.s3.bucket");
    }

    @Test
    void aServiceWithoutConditionalWritesGetsAPlainPutAfterAHead() throws Exception {
        // Some S3-compatible services answer If-None-Match on PUT with 501: then the store asks, and puts.
        var stub = new com.github.tomakehurst.wiremock.WireMockServer(
                com.github.tomakehurst.wiremock.core.WireMockConfiguration.options()
                        .dynamicPort()
                        .bindAddress("127.0.0.1"));
        stub.start();
        try {
            String id = ImageIds.newId();
            String path = "/legacy/" + id;
            stub.stubFor(com.github.tomakehurst.wiremock.client.WireMock.put(path)
                    .withHeader("If-None-Match", com.github.tomakehurst.wiremock.client.WireMock.equalTo("*"))
                    .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                            .withStatus(501)
                            .withHeader("Content-Type", "application/xml")
                            .withBody("<Error><Code>NotImplemented</Code><Message>no</Message></Error>")));
            stub.stubFor(com.github.tomakehurst.wiremock.client.WireMock.put(path)
                    .withHeader("If-None-Match", com.github.tomakehurst.wiremock.client.WireMock.absent())
                    .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                            .withStatus(200)
                            .withHeader("ETag", "\"x\"")));
            stub.stubFor(com.github.tomakehurst.wiremock.client.WireMock.head(
                            com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo(path))
                    .willReturn(com.github.tomakehurst.wiremock.client.WireMock.aResponse()
                            .withStatus(404)));
            S3Config legacy = S3Config.DEFAULTS
                    .withBucket("legacy")
                    .withEndpoint(java.net.URI.create(stub.baseUrl()))
                    .withPathStyle(true);
            try (S3ImageStore store = S3ImageStore.create(legacy, CREDENTIALS, Clock.systemUTC())) {
                StoredImage stored = store.put(id, "image/png", null, new ByteArrayInputStream(image(300, 30)), 1_000);
                assertThat(stored.size()).isEqualTo(300);
            }
            stub.verify(
                    2,
                    com.github.tomakehurst.wiremock.client.WireMock.putRequestedFor(
                            com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo(path)));
            stub.verify(
                    1,
                    com.github.tomakehurst.wiremock.client.WireMock.putRequestedFor(
                                    com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo(path))
                            .withHeader("If-None-Match", com.github.tomakehurst.wiremock.client.WireMock.absent()));
        } finally {
            stub.stop();
        }
    }
}
