package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
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
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sessions and stored images over real HTTP: an image generation with a {@code sessionId} records the proxy's
 * links (never the upstream's), and deleting the session deletes those images, and only those.
 */
class SessionImagesHttpTest {
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

    private String newSession() throws Exception {
        HttpResponse<String> created = Http.postJson(proxy.uri("/sessions"), "{}");
        assertThat(created.statusCode()).isEqualTo(201);
        return JSON.readTree(created.body()).path("sessionId").asText();
    }

    /** A generation of one linked and one inline image, in {@code sessionId} when not null; the answer. */
    private HttpResponse<String> generate(String sessionId, long seed) {
        upstream.stubFor(get("/files/" + seed + ".png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(png(2_000, seed))));
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1,\"data\":[{\"url\":\"" + upstream.baseUrl() + "/files/" + seed
                                + ".png\"},{\"b64_json\":\""
                                + Base64.getEncoder().encodeToString(png(500, seed + 1000)) + "\"}]}")));
        String session = sessionId == null ? "" : ",\"sessionId\":\"" + sessionId + "\"";
        return Http.postJson(
                proxy.uri("/images/generations"),
                "{\"prompt\":\"a red fox\",\"model\":\"dall-e-2\",\"n\":2" + session + "}");
    }

    private JsonNode messages(String sessionId) throws Exception {
        HttpResponse<String> page = Http.get(proxy.uri("/sessions/" + sessionId + "/messages"));
        assertThat(page.statusCode()).isEqualTo(200);
        return JSON.readTree(page.body()).path("messages");
    }

    private int status(String link) {
        return Http.get(proxy.uri(link)).statusCode();
    }

    @Test
    void aSessionRecordsTheProxysLinksAndDeletingItDeletesItsImages() throws Exception {
        String session = newSession();
        HttpResponse<String> answer = generate(session, 1);
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("x-openai-proxy-message-id")).isPresent();
        String urlLink =
                JSON.readTree(answer.body()).path("data").get(0).path("url").asText();
        assertThat(urlLink).startsWith("/images/files/img_");

        JsonNode recorded = messages(session);
        assertThat(recorded).hasSize(2);
        assertThat(recorded.get(0).path("role").asText()).isEqualTo("user");
        assertThat(recorded.get(0).path("content").asText()).isEqualTo("a red fox");
        assertThat(recorded.get(1).path("role").asText()).isEqualTo("assistant");
        String reply = recorded.get(1).path("content").asText();
        assertThat(reply).doesNotContain(upstream.baseUrl()).doesNotContain("127.0.0.1");
        List<String> links = List.of(reply.split("\n"));
        // Both images: the linked one as the answer's url, the inline one (the answer keeps its b64_json) too.
        assertThat(links).hasSize(2).first().isEqualTo(urlLink);
        assertThat(links).allMatch(l -> l.matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png"));
        for (String link : links) {
            assertThat(status(link)).as(link).isEqualTo(200);
        }

        // An image made outside the session, whose link a chat reply in the session merely quotes: not the
        // session's image, so not deleted with it.
        String other = JSON.readTree(generate(null, 2).body())
                .path("data")
                .get(0)
                .path("url")
                .asText();
        upstream.stubFor(post("/v1/chat/completions")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                                + "\"message\":{\"role\":\"assistant\",\"content\":\"See " + other
                                + "\"},\"finish_reason\":\"stop\"}]}")));
        assertThat(Http.postJson(
                                proxy.uri("/"),
                                "{\"sessionId\":\"" + session + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                                        + "\"show me " + other + "\"}]}")
                        .statusCode())
                .isEqualTo(200);
        assertThat(messages(session)).hasSize(4);

        HttpResponse<String> deleted = Http.call("DELETE", proxy.uri("/sessions/" + session), null);
        assertThat(deleted.statusCode()).isEqualTo(200);
        for (String link : links) {
            assertThat(status(link)).as(link).isEqualTo(404);
        }
        assertThat(status(other)).isEqualTo(200);
        assertThat(Http.get(proxy.uri("/sessions/" + session)).statusCode()).isEqualTo(404);
    }

    @Test
    void anUnknownSessionIs404AndStoresNothingForIt() throws Exception {
        HttpResponse<String> answer = generate("ses_unknown", 3);
        assertThat(answer.statusCode()).isEqualTo(404);
        assertThat(JSON.readTree(answer.body()).path("param").asText()).isEqualTo("sessionId");
        assertThat(upstream.getAllServeEvents()).isEmpty();
    }

    @Test
    void imagesNotStoredAreRecordedAsSuchNeverWithTheUpstreamsLink() throws Exception {
        String session = newSession();
        // A link to a host not on images.fetch-hosts: the answer falls back to the upstream's, unchanged.
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(aResponse()
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"created\":1,\"data\":[{\"url\":\"https://images.example.org/x.png\"}]}")));
        HttpResponse<String> answer = Http.postJson(
                proxy.uri("/images/generations"),
                "{\"prompt\":\"a fox\",\"model\":\"dall-e-2\",\"sessionId\":\"" + session + "\"}");
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("x-openai-proxy-image-stored")).hasValue("false");
        assertThat(answer.body()).contains("https://images.example.org/x.png");
        List<String> contents = new ArrayList<>();
        messages(session).forEach(m -> contents.add(m.path("content").asText()));
        assertThat(contents).containsExactly("a fox", "[images not stored by the proxy]");
    }
}
