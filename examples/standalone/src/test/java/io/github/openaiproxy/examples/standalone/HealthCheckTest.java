package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /healthz} over a raw socket (a probe names the pod's address as {@code Host}, which an HTTP client library
 * would not let a test choose), on a server whose {@code allowed-hosts} refuses that name for everything else.
 */
class HealthCheckTest {
    private static final String PROBE_HOST = "10.1.2.3:8787";
    static StandaloneServer server;

    @BeforeAll
    static void start() throws Exception {
        server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false),
                Map.of(
                        "OPENAI_API_KEY", "sk-test-health-0123456789",
                        // Never called: nothing here reaches the upstream.
                        "OPENAI_BASE_URL", "http://127.0.0.1:9",
                        "OPENAI_PROXY_ALLOWED_HOSTS", "proxy.example.com",
                        "OPENAI_PROXY_SESSIONS_STORE", "memory"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void answersOkWhateverTheHostWithoutCachingOrSniffing() throws Exception {
        String r = exchange("GET /healthz HTTP/1.1\r\nHost: " + PROBE_HOST + "\r\nConnection: close\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 200 ");
        assertThat(r.toLowerCase()).contains("cache-control: no-store").contains("x-content-type-options: nosniff");
        assertThat(r.toLowerCase()).contains("content-type: application/json");
        assertThat(body(r)).isEqualTo("{\"status\":\"ok\"}");
    }

    @Test
    void theHostCheckStillGuardsTheProxyItself() throws Exception {
        String json = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        String r = exchange("POST /v1/chat/completions HTTP/1.1\r\nHost: " + PROBE_HOST
                + "\r\nContent-Type: application/json\r\nContent-Length: " + json.length()
                + "\r\nConnection: close\r\n\r\n" + json);
        assertThat(r).startsWith("HTTP/1.1 403 ");
    }

    @Test
    void headHasTheHeadersAndNoBody() throws Exception {
        String r = exchange("HEAD /healthz HTTP/1.1\r\nHost: " + PROBE_HOST + "\r\nConnection: close\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 200 ");
        assertThat(body(r)).isEmpty();
    }

    @Test
    void otherMethodsAreNotAllowed() throws Exception {
        String r = exchange(
                "POST /healthz HTTP/1.1\r\nHost: " + PROBE_HOST + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 405 ");
        assertThat(r).containsIgnoringCase("allow: GET, HEAD");
        assertThat(body(r)).contains("\"code\":\"method_not_allowed\"");
    }

    private static String exchange(String request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String body(String response) {
        return response.substring(response.indexOf("\r\n\r\n") + 4);
    }
}
