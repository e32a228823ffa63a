package io.github.openaiproxy.graphql;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.graphql.support.GraphQlServer;
import io.github.openaiproxy.graphql.support.Upstream;
import io.github.openaiproxy.testsupport.BodyReader;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** With image storage on, GraphQL's generateImage returns the proxy's links, which serve the image's bytes. */
class GraphQlImageStorageTest {
    @RegisterExtension
    static final Upstream upstream = new Upstream();

    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path directory;

    ProxyEngine engine;

    @AfterEach
    void stop() {
        engine.close();
    }

    private ProxyResponse send(ProxyRequest request) throws Exception {
        return engine.handle(request).get(30, TimeUnit.SECONDS);
    }

    @Test
    void generateImageReturnsTheProxysLinks() throws Exception {
        byte[] png = new byte[2_000];
        new Random(1).nextBytes(png);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, png, 0, 8);
        upstream.server()
                .stubFor(get("/files/cat.png")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "image/png")
                                .withBody(png)));
        upstream.server()
                .stubFor(post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"created\":1,\"data\":[{\"url\":\"" + upstream.baseUrl()
                                        + "/files/cat.png\",\"revised_prompt\":\"a cat\"}]}")));
        ProxyConfig config = GraphQlServer.config(upstream.baseUrl())
                .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                .build();
        engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS))
                .imageStore(FilesystemImageStore.create(directory))
                .build();

        byte[] body = JSON.writeValueAsBytes(
                Map.of("query", "mutation { generateImage(input: {prompt: \"a cat\"}) { success images { url } } }"));
        ProxyResponse r = send(ProxyRequest.builder("POST", "/graphql")
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(body.length))
                .remoteAddress("127.0.0.1")
                .body(body)
                .build());
        JsonNode answer = JSON.readTree(
                BodyReader.collect(r.body()).get(30, TimeUnit.SECONDS).text());
        assertThat(answer.at("/data/generateImage/success").asBoolean())
                .as(answer.toString())
                .isTrue();
        String url = answer.at("/data/generateImage/images/0/url").asText();
        assertThat(url).matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png");

        upstream.server().stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403)));
        ProxyResponse image = send(ProxyRequest.builder("GET", url).build());
        assertThat(image.status()).isEqualTo(200);
        assertThat(BodyReader.collect(image.body()).get(30, TimeUnit.SECONDS).bytes())
                .isEqualTo(png);
    }

    private JsonNode graphql(String query) throws Exception {
        byte[] body = JSON.writeValueAsBytes(Map.of("query", query));
        ProxyResponse r = send(ProxyRequest.builder("POST", "/graphql")
                .header("Content-Type", "application/json")
                .header("Content-Length", Integer.toString(body.length))
                .remoteAddress("127.0.0.1")
                .body(body)
                .build());
        return JSON.readTree(
                BodyReader.collect(r.body()).get(30, TimeUnit.SECONDS).text());
    }

    @Test
    void generateImageInASessionRecordsTheProxysLinksAndDeleteSessionDeletesTheImages() throws Exception {
        byte[] png = new byte[1_000];
        new Random(2).nextBytes(png);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, png, 0, 8);
        upstream.server()
                .stubFor(get("/files/fox.png")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "image/png")
                                .withBody(png)));
        upstream.server()
                .stubFor(post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"created\":1,\"data\":[{\"url\":\"" + upstream.baseUrl()
                                        + "/files/fox.png\"}]}")));
        ProxyConfig config = GraphQlServer.config(upstream.baseUrl())
                .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                .build();
        engine = ProxyEngine.builder(config)
                .route(GraphQlRoute.create(config, GraphQlOptions.DEFAULTS))
                .imageStore(FilesystemImageStore.create(directory))
                .build();

        String session = graphql("mutation { createSession { sessionId } }")
                .at("/data/createSession/sessionId")
                .asText();
        JsonNode generated = graphql("mutation { generateImage(input: {prompt: \"a fox\", sessionId: \"" + session
                + "\"}) { success images { url } } }");
        String url = generated.at("/data/generateImage/images/0/url").asText();
        assertThat(url).as(generated.toString()).matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png");

        JsonNode history = graphql("{ chatHistory(sessionId: \"" + session + "\") { content isUser } }")
                .at("/data/chatHistory");
        assertThat(history).hasSize(2);
        assertThat(history.get(0).path("content").asText()).isEqualTo("a fox");
        assertThat(history.get(1).path("content").asText()).isEqualTo(url); // never the upstream's link

        assertThat(graphql("mutation { deleteSession(sessionId: \"" + session + "\") { success } }")
                        .at("/data/deleteSession/success")
                        .asBoolean())
                .isTrue();
        assertThat(send(ProxyRequest.builder("GET", url).build()).status()).isEqualTo(404);
    }
}
