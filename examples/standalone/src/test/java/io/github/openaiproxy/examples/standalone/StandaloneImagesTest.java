package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image storage in the standalone server (demo upstream, whose b64_json images are PNGs): {@code filesystem}
 * keeps them in {@code OPENAI_PROXY_IMAGES_DIRECTORY}, {@code jdbc} in the server's own database.
 */
class StandaloneImagesTest {
    final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    /** Two b64_json images in a session: only a session learns their links, so only then are they stored. */
    HttpResponse<String> generate(StandaloneServer server) throws Exception {
        HttpResponse<String> session = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/sessions"))
                        .POST(HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        String id = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(session.body())
                .path("sessionId")
                .asText();
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/images/generations"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"model\":\"gpt-image-1\",\"prompt\":\"a cat\",\"n\":2,\"sessionId\":\"" + id
                                        + "\"}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void b64JsonImagesWithoutASessionAreNotKept() throws Exception {
        Path images = dir.resolve("images");
        try (StandaloneServer server = demo(Map.of(
                "OPENAI_PROXY_IMAGES_STORE", "filesystem", "OPENAI_PROXY_IMAGES_DIRECTORY", images.toString()))) {
            HttpResponse<String> answer = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/images/generations"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"gpt-image-1\",\"prompt\":\"a cat\",\"n\":2}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(answer.statusCode()).isEqualTo(200);
            assertThat(answer.body()).contains("b64_json");
        }
        try (Stream<Path> files = Files.list(images)) {
            assertThat(files.filter(f -> f.toString().endsWith(".meta"))).isEmpty();
        }
    }

    StandaloneServer demo(Map<String, String> env) throws Exception {
        return StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", true), env);
    }

    @Test
    void theFilesystemStoreKeepsGeneratedImagesInItsDirectory() throws Exception {
        Path images = dir.resolve("images");
        try (StandaloneServer server = demo(Map.of(
                "OPENAI_PROXY_IMAGES_STORE", "filesystem", "OPENAI_PROXY_IMAGES_DIRECTORY", images.toString()))) {
            HttpResponse<String> answer = generate(server);
            assertThat(answer.statusCode()).isEqualTo(200);
            assertThat(answer.body()).contains("b64_json");
            assertThat(answer.headers().firstValue("x-openai-proxy-image-stored"))
                    .isEmpty();
        }
        try (Stream<Path> files = Files.list(images)) {
            assertThat(files.filter(f -> f.toString().endsWith(".meta"))).hasSize(2);
        }
    }

    @Test
    void theJdbcStoreKeepsThemInTheServersDatabase() throws Exception {
        String url = "jdbc:h2:file:" + dir.resolve("db").toAbsolutePath();
        try (StandaloneServer server = demo(Map.of("OPENAI_PROXY_DB_URL", url, "OPENAI_PROXY_IMAGES_STORE", "jdbc"))) {
            HttpResponse<String> answer = generate(server);
            assertThat(answer.statusCode()).isEqualTo(200);
            assertThat(answer.headers().firstValue("x-openai-proxy-image-stored"))
                    .isEmpty();
        }
        try (Connection c = DriverManager.getConnection(url, "sa", "");
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM openai_proxy_images")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(2);
        }
    }
}
