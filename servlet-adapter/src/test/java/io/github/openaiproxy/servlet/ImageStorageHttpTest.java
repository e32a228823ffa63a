package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image storage through the servlet adapter on Tomcat, over real HTTP both ways: the upstream (WireMock) answers
 * a generation with links to its own file route; the proxy's answer links to the proxy, whose links serve the
 * same bytes after the upstream's links expire, with HEAD, 304 and ranges framed right; bad names are 4xx.
 */
class ImageStorageHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path directory;

    TomcatProxy proxy;

    @BeforeEach
    void start() {
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(FilesystemImageStore.create(directory))
                .build();
        proxy = TomcatProxy.servlet(engine);
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    static byte[] png(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, b, 0, 8);
        return b;
    }

    private List<String> generate(byte[]... images) throws Exception {
        StringBuilder data = new StringBuilder();
        for (int i = 0; i < images.length; i++) {
            upstream.stubFor(get("/files/" + i + ".png")
                    .willReturn(
                            aResponse().withHeader("Content-Type", "image/png").withBody(images[i])));
            data.append(i == 0 ? "" : ",")
                    .append("{\"url\":\"")
                    .append(upstream.baseUrl())
                    .append("/files/")
                    .append(i)
                    .append(".png\"}");
        }
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1,\"data\":[" + data + "]}")));
        HttpResponse<String> answer = Http.postJson(
                proxy.uri("/images/generations"),
                "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\",\"n\":" + images.length + "}");
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("x-openai-proxy-image-stored")).isEmpty();
        List<String> links = new ArrayList<>();
        for (JsonNode d : JSON.readTree(answer.body()).path("data")) {
            links.add(d.path("url").asText());
        }
        return links;
    }

    private HttpResponse<byte[]> fetch(String method, String path, String... headers) {
        return Http.send(
                Http.headers(Http.request(proxy.uri(path)).method(method, HttpRequest.BodyPublishers.noBody()), headers)
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    /**
     * The answer is held whole to store its images only up to 14 times {@code images.max-size} (ten images in
     * base64 and their JSON): an upstream that answers with more (no Content-Length, chunks without end) had it
     * held, up to 2 GB. Beyond, the answer is relayed as the upstream sent it and its images are not stored.
     */
    @Test
    void anAnswerLongerThanItsImagesCouldBeIsRelayedAsSentNotHeld() throws Exception {
        proxy.close();
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .images(ImageConfig.DEFAULTS
                                .withStore(ImageConfig.Store.FILESYSTEM)
                                .withMaxSize(1_000))
                        .build())
                .imageStore(FilesystemImageStore.create(directory))
                .build();
        proxy = TomcatProxy.servlet(engine);
        upstream.stubFor(get("/files/0.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(png(500, 9))));
        String body = "{\"created\":1,\"data\":[{\"url\":\"" + upstream.baseUrl() + "/files/0.png\","
                + "\"revised_prompt\":\"" + "a cat ".repeat(3_000) + "\"}]}";
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withChunkedDribbleDelay(4, 20)
                        .withBody(body)));

        HttpResponse<String> answer = Http.postJson(
                proxy.uri("/images/generations"), "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\",\"n\":1}");

        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.body()).isEqualTo(body);
        assertThat(answer.headers().firstValue("x-openai-proxy-image-stored")).contains("false");
    }

    @Test
    void inAWebApplicationAtAContextPathTheLinksStartWithItAndServeTheImage() throws Exception {
        proxy.close();
        ProxyEngine engine = ProxyEngine.builder(Upstream.config(upstream)
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(FilesystemImageStore.create(directory))
                .build();
        proxy = TomcatProxy.servletInContext(engine, "/shop", "/ai/*");
        byte[] one = png(2_000, 3);
        upstream.stubFor(get("/files/0.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(one)));
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1,\"data\":[{\"url\":\"" + upstream.baseUrl() + "/files/0.png\"}]}")));
        HttpResponse<String> answer = Http.postJson(
                proxy.uri("/shop/ai/images/generations"), "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\"}");
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        String link =
                JSON.readTree(answer.body()).path("data").path(0).path("url").asText();

        // A browser resolves the link against the page's host: it must name the application's path too.
        assertThat(link).startsWith("/shop/ai/images/files/img_");
        HttpResponse<byte[]> image = fetch("GET", link);
        assertThat(image.statusCode()).isEqualTo(200);
        assertThat(image.body()).isEqualTo(one);
    }

    @Test
    void generatedImagesRoundTripAndOutliveTheUpstreamsLinks() throws Exception {
        byte[] one = png(300_000, 1);
        byte[] two = png(1_000, 2);
        List<String> links = generate(one, two);
        assertThat(links).hasSize(2).allMatch(l -> l.startsWith("/images/files/img_") && l.endsWith(".png"));

        upstream.stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403)));
        HttpResponse<byte[]> first = fetch("GET", links.get(0));
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.body()).isEqualTo(one);
        assertThat(first.headers().firstValue("Content-Type")).hasValue("image/png");
        assertThat(first.headers().firstValue("Content-Length")).hasValue(Integer.toString(one.length));
        assertThat(first.headers().firstValue("Cache-Control")).hasValue("public, max-age=31536000, immutable");
        String etag = first.headers().firstValue("ETag").orElseThrow();
        assertThat(fetch("GET", links.get(1)).body()).isEqualTo(two);

        HttpResponse<byte[]> head = fetch("HEAD", links.get(0));
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Length")).hasValue(Integer.toString(one.length));
        assertThat(head.body()).isEmpty();

        HttpResponse<byte[]> notModified = fetch("GET", links.get(0), "If-None-Match", etag);
        assertThat(notModified.statusCode()).isEqualTo(304);
        assertThat(notModified.body()).isEmpty();

        HttpResponse<byte[]> range = fetch("GET", links.get(0), "Range", "bytes=1000-1999");
        assertThat(range.statusCode()).isEqualTo(206);
        assertThat(range.headers().firstValue("Content-Range")).hasValue("bytes 1000-1999/" + one.length);
        assertThat(range.body()).isEqualTo(Arrays.copyOfRange(one, 1000, 2000));

        HttpResponse<byte[]> past = fetch("GET", links.get(0), "Range", "bytes=" + one.length + "-");
        assertThat(past.statusCode()).isEqualTo(416);
    }

    @Test
    void badNamesAre4xxNever5xx() {
        for (String path : List.of(
                "/images/files/..%2F..%2Fetc%2Fpasswd",
                "/images/files/../../etc/passwd",
                "/images/files/img_" + "A".repeat(10_000) + ".png",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.exe",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png",
                "/images/files/%00.png")) {
            assertThat(fetch("GET", path).statusCode()).as(path).isBetween(400, 499);
        }
    }
}
