package io.github.openaiproxy.integration;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.StoreProbe;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.ImageStoreException;
import io.github.openaiproxy.core.images.S3Config;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import io.github.openaiproxy.testsupport.S3MockServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code images.store=s3} end to end over real HTTP: an image generation through the engine (WireMock upstream)
 * stores its images in a real S3 implementation (Adobe's S3Mock, its own process); the engine makes the S3 store
 * from the settings alone, credentials from the AWS SDK's default chain. The proxy's links serve the bytes
 * (ranges too) after the upstream's links expire, or, with {@code images.s3.presign}, redirect to S3 itself.
 */
class S3ImageStorageHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();

    static S3MockServer s3;
    TomcatProxy proxy;
    ProxyEngine engine;

    @BeforeAll
    static void startS3() {
        s3 = S3MockServer.start("proxy-images");
        // The SDK's default chain reads these system properties (as it reads AWS_ACCESS_KEY_ID in production).
        System.setProperty("aws.accessKeyId", "test-key");
        System.setProperty("aws.secretAccessKey", "test-secret");
    }

    @AfterAll
    static void stopS3() {
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
        if (s3 != null) {
            s3.close();
        }
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void start(UnaryOperator<S3Config> s3Settings) {
        S3Config settings = s3Settings.apply(S3Config.DEFAULTS
                .withBucket(s3.bucket())
                .withEndpoint(s3.endpoint())
                .withPathStyle(true)
                .withPrefix("generated/"));
        engine = ProxyEngine.builder(Upstream.config(upstream)
                        .images(ImageConfig.DEFAULTS
                                .withStore(ImageConfig.Store.S3)
                                .withS3(settings))
                        .build())
                .build(); // no store given: the engine makes the S3 store from images.s3.*
        proxy = TomcatProxy.servlet(engine);
    }

    static byte[] png(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, b, 0, 8);
        return b;
    }

    /** Generates through the proxy with the upstream answering {@code data}; the answer's data. */
    private JsonNode generate(String data) throws Exception {
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1,\"data\":[" + data + "]}")));
        HttpResponse<String> answer = Http.postJson(
                proxy.uri("/images/generations"), "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\",\"n\":2}");
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("x-openai-proxy-image-stored")).isEmpty();
        return JSON.readTree(answer.body()).path("data");
    }

    private HttpResponse<byte[]> fetch(String path, String... headers) {
        return Http.send(
                Http.headers(Http.request(proxy.uri(path)), headers).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @Test
    void generatedImagesAreStoredInS3AndServedByTheProxy() throws Exception {
        start(c -> c);
        byte[] linked = png(200_000, 1);
        byte[] inline = png(3_000, 2);
        upstream.stubFor(get("/files/a.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(linked)));
        JsonNode data = generate("{\"url\":\"" + upstream.baseUrl() + "/files/a.png\"},{\"b64_json\":\""
                + Base64.getEncoder().encodeToString(inline) + "\"}");
        String link = data.get(0).path("url").asText();
        assertThat(link).startsWith("/images/files/img_").endsWith(".png");
        assertThat(data.get(1).path("b64_json").asText())
                .isEqualTo(Base64.getEncoder().encodeToString(inline));

        upstream.stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403))); // the upstream's link expired
        HttpResponse<byte[]> got = fetch(link);
        assertThat(got.statusCode()).isEqualTo(200);
        assertThat(got.body()).isEqualTo(linked);
        assertThat(got.headers().firstValue("Content-Type")).hasValue("image/png");
        assertThat(got.headers().firstValue("Content-Length")).hasValue(Integer.toString(linked.length));
        String etag = got.headers().firstValue("ETag").orElseThrow();
        assertThat(fetch(link, "If-None-Match", etag).statusCode()).isEqualTo(304);

        HttpResponse<byte[]> range = fetch(link, "Range", "bytes=150000-150999");
        assertThat(range.statusCode()).isEqualTo(206);
        assertThat(range.headers().firstValue("Content-Range")).hasValue("bytes 150000-150999/" + linked.length);
        assertThat(range.body()).isEqualTo(Arrays.copyOfRange(linked, 150_000, 151_000));

        // The object is in the bucket under the prefix: S3 itself serves it (S3Mock needs no signature to read).
        String id = link.substring("/images/files/".length(), link.length() - ".png".length());
        HttpResponse<byte[]> direct =
                Http.sendForBytes(Http.request(URI.create(s3.endpoint() + "/" + s3.bucket() + "/generated/" + id))
                        .build());
        assertThat(direct.body()).isEqualTo(linked);

        HttpResponse<String> deleted = Http.call("DELETE", proxy.uri(link), null);
        assertThat(deleted.statusCode()).isEqualTo(200);
        assertThat(fetch(link).statusCode()).isEqualTo(404);
    }

    @Test
    void withPresignTheProxyRedirectsToS3AndTheClientGetsTheBytes() throws Exception {
        start(c -> c.withPresign(Duration.ofMinutes(10)));
        byte[] image = png(50_000, 3);
        upstream.stubFor(get("/files/b.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(image)));
        String link = generate("{\"url\":\"" + upstream.baseUrl() + "/files/b.png\"}")
                .get(0)
                .path("url")
                .asText();

        HttpResponse<byte[]> redirect = fetch(link);
        assertThat(redirect.statusCode()).isEqualTo(302);
        String location = redirect.headers().firstValue("Location").orElseThrow();
        assertThat(location)
                .startsWith(s3.endpoint() + "/" + s3.bucket() + "/generated/img_")
                .contains("X-Amz-Expires=600")
                .contains("X-Amz-Signature=");
        assertThat(redirect.headers().firstValue("Cache-Control")).hasValue("private, no-store");
        // HEAD answers as GET would.
        HttpResponse<byte[]> head = Http.send(
                Http.request(proxy.uri(link))
                        .method("HEAD", HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(head.statusCode()).isEqualTo(302);

        HttpClient following = HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Http.TIMEOUT)
                .build();
        HttpResponse<byte[]> followed = following.send(
                HttpRequest.newBuilder(proxy.uri(link)).timeout(Http.TIMEOUT).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(followed.statusCode()).isEqualTo(200);
        assertThat(followed.uri().getPort()).isEqualTo(s3.endpoint().getPort());
        assertThat(followed.body()).isEqualTo(image);
        assertThat(followed.headers().firstValue("Content-Type")).hasValue("image/png");

        HttpResponse<byte[]> ranged = following.send(
                HttpRequest.newBuilder(proxy.uri(link))
                        .header("Range", "bytes=100-199")
                        .timeout(Http.TIMEOUT)
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(ranged.statusCode()).isEqualTo(206);
        assertThat(ranged.body()).isEqualTo(Arrays.copyOfRange(image, 100, 200));

        // The proxy checks before it redirects: an id it does not have is its own 404, no link to S3.
        String unknown = link.substring(0, link.length() - 8) + "AAAA.png";
        HttpResponse<byte[]> missing = fetch(unknown);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(missing.headers().firstValue("Location")).isEmpty();
    }

    @Test
    void deletingASessionDeletesItsImagesFromTheBucket() throws Exception {
        start(c -> c);
        byte[] image = png(20_000, 4);
        upstream.stubFor(get("/files/c.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(image)));
        String session = JSON.readTree(
                        Http.postJson(proxy.uri("/sessions"), "{}").body())
                .path("sessionId")
                .asText();
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1,\"data\":[{\"url\":\"" + upstream.baseUrl() + "/files/c.png\"}]}")));
        HttpResponse<String> answer = Http.postJson(
                proxy.uri("/images/generations"),
                "{\"prompt\":\"a heron\",\"model\":\"dall-e-2\",\"sessionId\":\"" + session + "\"}");
        String link =
                JSON.readTree(answer.body()).path("data").get(0).path("url").asText();
        String id = link.substring("/images/files/".length(), link.length() - ".png".length());
        URI object = URI.create(s3.endpoint() + "/" + s3.bucket() + "/generated/" + id);
        assertThat(Http.sendForBytes(Http.request(object).build()).body()).isEqualTo(image);
        JsonNode messages = JSON.readTree(Http.get(proxy.uri("/sessions/" + session + "/messages"))
                        .body())
                .path("messages");
        assertThat(messages.get(1).path("content").asText()).isEqualTo(link);

        assertThat(Http.call("DELETE", proxy.uri("/sessions/" + session), null).statusCode())
                .isEqualTo(200);
        assertThat(fetch(link).statusCode()).isEqualTo(404);
        assertThat(Http.sendForBytes(Http.request(object).build()).statusCode()).isEqualTo(404);
    }

    /**
     * The engine's store probe, which the Spring starter's health indicator reports: the bucket answers; a bucket
     * that is not there fails it with the service's status, never the SDK's text or the secret key.
     */
    @Test
    void theEngineProbesItsBucketForHealthChecks() throws Exception {
        start(c -> c);
        assertThat(engine.probeStores()).singleElement().satisfies(probe -> {
            assertThat(probe.store()).isEqualTo("images");
            assertThat(probe.kind()).isEqualTo("s3");
            assertThat(probe.answer().get(30, java.util.concurrent.TimeUnit.SECONDS))
                    .isNull();
        });
        proxy.close();
        proxy = null;

        start(c -> c.withBucket("no-such-bucket"));
        StoreProbe missing = engine.probeStores().get(0);
        Throwable failed = catchThrowable(() -> missing.answer().get(30, java.util.concurrent.TimeUnit.SECONDS));

        assertThat(failed).isInstanceOf(java.util.concurrent.ExecutionException.class);
        assertThat(failed.getCause()).isInstanceOf(ImageStoreException.class).hasMessage("the bucket answered 404");
    }
}
