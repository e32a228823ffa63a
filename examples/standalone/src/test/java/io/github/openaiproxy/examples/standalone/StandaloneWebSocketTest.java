package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Realtime API's WebSocket against the standalone server: refused with 501 {@code websocket_not_supported},
 * also on a {@code GET /v1/realtime} route a deployment added, never sent upstream and not counted on the
 * caller's request limit.
 */
class StandaloneWebSocketTest {
    static final String REALTIME = "/v1/realtime?model=gpt-4o-realtime-preview";

    final List<String> upstreamCalls = new ArrayList<>();
    final HttpClient http = HttpClient.newHttpClient();
    HttpServer upstream;
    StandaloneServer server;

    @BeforeEach
    void start() throws Exception {
        upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        upstream.createContext("/", ex -> {
            synchronized (upstreamCalls) {
                upstreamCalls.add(ex.getRequestMethod() + " " + ex.getRequestURI());
            }
            byte[] body = "{\"object\":\"list\",\"data\":[]}".getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        upstream.start();
        server = StandaloneServer.start(
                new StandaloneOptions(0, "127.0.0.1", false),
                Map.of(
                        "OPENAI_API_KEY", "sk-test-1234567890",
                        "OPENAI_BASE_URL",
                                "http://127.0.0.1:" + upstream.getAddress().getPort(),
                        "OPENAI_PROXY_SESSIONS_STORE", "memory",
                        // A deployment that added the Realtime API's path: a plain GET would have gone upstream.
                        "OPENAI_PROXY_PASS_THROUGH_ROUTES", "GET /v1/models, GET /v1/realtime",
                        "OPENAI_PROXY_POLICIES_ANONYMOUS_REQUESTS_PER_MINUTE", "1"));
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        upstream.stop(0);
    }

    @Test
    void theRealtimeApisWebSocketIsRefusedWith501AndNothingIsSentOrCounted() throws Exception {
        for (String path : List.of(REALTIME, "/v1/models", "/nowhere")) {
            CompletableFuture<WebSocket> open = http.newWebSocketBuilder()
                    .buildAsync(URI.create("ws://127.0.0.1:" + server.port() + path), new WebSocket.Listener() {});
            Throwable failure = catchThrowable(() -> open.get(30, TimeUnit.SECONDS));
            assertThat(failure).as(path).hasCauseInstanceOf(WebSocketHandshakeException.class);
            assertThat(((WebSocketHandshakeException) failure.getCause())
                            .getResponse()
                            .statusCode())
                    .as(path)
                    .isEqualTo(501);
        }
        String answer = handshake(REALTIME);
        assertThat(answer).startsWith("HTTP/1.1 501 ");
        JsonNode error = new ObjectMapper()
                .readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4))
                .path("error");
        assertThat(error.path("code").asText()).isEqualTo("websocket_not_supported");
        assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
        assertThat(upstreamCalls).isEmpty();

        // The one request a minute is still there: the refusals took none of it.
        HttpResponse<String> models = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/models"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(models.statusCode()).as(models.body()).isEqualTo(200);
        assertThat(upstreamCalls).containsExactly("GET /v1/models");
    }

    /** A handshake written by hand, its whole answer as text (Tomcat closes the connection after a 501). */
    private String handshake(String path) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
