package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.models.Model;
import com.openai.models.models.ModelDeleted;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Model ids as OpenAI-compatible servers name them ({@code meta-llama/Llama-3.1-8B-Instruct}) and as fine-tuning
 * names them ({@code ft:gpt-4o-mini:org::id}), retrieved and deleted through the server: openai-java sends the slash
 * as {@code %2F}, the Node SDK raw; the upstream gets it raw either way, and neither form leads it to another path.
 */
class StandaloneModelIdsTest {
    private static final String KEY = "sk-model-ids-0123456789abcdefghijklmnop";
    private static final String LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

    /** What reached the upstream: method and raw path. */
    static final List<String> received = new CopyOnWriteArrayList<>();

    static HttpServer upstream;
    static StandaloneServer server;
    OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        upstream.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getRawPath();
            received.add(exchange.getRequestMethod() + " " + path);
            String id = java.net.URLDecoder.decode(
                    path.substring("/v1/models/".length()).replace("+", "%2B"), StandardCharsets.UTF_8);
            String json = exchange.getRequestMethod().equals("DELETE")
                    ? "{\"id\":\"" + id + "\",\"object\":\"model\",\"deleted\":true}"
                    : "{\"id\":\"" + id + "\",\"object\":\"model\",\"created\":1,\"owned_by\":\"meta\"}";
            byte[] body = json.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        upstream.start();
        server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false),
                Map.of(
                        "OPENAI_API_KEY",
                        KEY,
                        "OPENAI_BASE_URL",
                        "http://127.0.0.1:" + upstream.getAddress().getPort(),
                        "OPENAI_PROXY_SESSIONS_STORE",
                        "memory",
                        "OPENAI_PROXY_PASS_THROUGH_ROUTES",
                        "GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id}"));
    }

    @AfterAll
    static void stop() {
        server.close();
        upstream.stop(0);
    }

    @BeforeEach
    void client() {
        received.clear();
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + server.port() + "/v1")
                .apiKey("sk-client-placeholder")
                .maxRetries(0)
                .build();
    }

    @Test
    void openAiJavaRetrievesAModelWhoseIdHasASlash() {
        Model model = client.models().retrieve(LLAMA);

        assertThat(model.id()).isEqualTo(LLAMA);
        assertThat(received).containsExactly("GET /v1/models/" + LLAMA);
    }

    @Test
    void openAiJavaDeletesModelsWithSlashesAndColons() {
        String fineTuned = "ft:gpt-4o-mini-2024-07-18:my-org::AbC123";

        ModelDeleted deleted = client.models().delete(fineTuned);
        ModelDeleted slashed = client.models().delete(LLAMA);

        assertThat(deleted.id()).isEqualTo(fineTuned);
        assertThat(deleted.deleted()).isTrue();
        assertThat(slashed.id()).isEqualTo(LLAMA);
        assertThat(received).hasSize(2);
        assertThat(java.net.URLDecoder.decode(received.get(0), StandardCharsets.UTF_8))
                .isEqualTo("DELETE /v1/models/" + fineTuned);
        assertThat(received.get(1)).isEqualTo("DELETE /v1/models/" + LLAMA);
    }

    /** What the Node SDK sends for {@code client.models.retrieve(id)}: the id in the path as it is. */
    @Test
    void aRawSlashAsTheNodeSdkSendsItIsRetrieved() throws IOException {
        String answer = raw("GET /v1/models/" + LLAMA);

        assertThat(answer).startsWith("HTTP/1.1 200").contains("\"id\":\"" + LLAMA + "\"");
        assertThat(received).containsExactly("GET /v1/models/" + LLAMA);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/v1/models/a/../files",
                "/v1/models/../files",
                "/v1/models/a%2F..%2Ffiles",
                "/v1/models/a%2F%2e%2e%2Ffiles",
                "/v1/models/..%2Ffiles",
                "/v1/models/a%2F..%2F..%2Fadmin%2Fkeys",
                "/v1/models/a//b",
                "/v1/models/a%2F%2Fb",
                "/v1/models/a%252F..%252Ffiles"
            })
    void noFormOfSlashLeadsTheUpstreamElsewhere(String path) throws IOException {
        String answer = raw("GET " + path);

        assertThat(answer).matches("(?s)HTTP/1.1 4\\d\\d .*");
        assertThat(received).isEmpty();
    }

    /** One request written by hand, as sent (an HTTP client might normalize the path); the whole answer. */
    static String raw(String requestLine) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write((requestLine + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
