package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.catalina.Context;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Request;
import org.apache.catalina.startup.Tomcat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The standalone's connector over real HTTP: its small per-request buffers are in place, and what reads or
 * writes through them (a reader over a large body of multi-byte and surrogate-pair characters, a writer and
 * a byte stream larger than the output buffer) still sees every character.
 */
class LeanConnectorTest {
    static Tomcat tomcat;
    static int port;
    static final AtomicInteger readerBuffer = new AtomicInteger();
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        tomcat = new Tomcat();
        tomcat.setBaseDir(Files.createTempDirectory("lean-connector").toString());
        LeanConnector connector = new LeanConnector();
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        StandaloneServer.tune(connector);
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", null);
        Wrapper echo = Tomcat.addServlet(context, "echo", new HttpServlet() {
            @Override
            protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                readerBuffer.set(readerBufferOf(req));
                StringBuilder text = new StringBuilder();
                try (BufferedReader in = req.getReader()) {
                    char[] chunk = new char[333];
                    for (int n; (n = in.read(chunk)) >= 0; ) {
                        text.append(chunk, 0, n);
                    }
                }
                resp.setContentType("text/plain;charset=UTF-8");
                if (req.getRequestURI().endsWith("/bytes")) {
                    try (OutputStream out = resp.getOutputStream()) {
                        out.write(text.toString().getBytes(StandardCharsets.UTF_8));
                    }
                } else {
                    resp.getWriter().write(text.toString());
                }
            }
        });
        echo.setAsyncSupported(true);
        context.addServletMappingDecoded("/*", "echo");
        tomcat.start();
        port = connector.getLocalPort();
    }

    @AfterAll
    static void stop() throws Exception {
        tomcat.stop();
        tomcat.destroy();
    }

    private static int readerBufferOf(HttpServletRequest req) {
        try {
            // The servlet sees Tomcat's facade; the connector's request is behind it.
            java.lang.reflect.Field f = org.apache.catalina.connector.RequestFacade.class.getDeclaredField("request");
            f.setAccessible(true);
            Request r = (Request) f.get(req);
            return r instanceof LeanConnector.LeanRequest lean ? lean.readerBufferCapacity() : -2;
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static String largeText() {
        // 2-, 3- and 4-byte UTF-8 (the last a surrogate pair in Java), split at every buffer boundary.
        String unit = "a\u00e9\u20ac\ud83d\ude00z\n";
        return unit.repeat(40_000);
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .header("Content-Type", "text/plain;charset=UTF-8")
                        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                        .build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    @Test
    void requestsStartWithASmallReaderBufferAndTheReaderStillReadsEveryCharacter() throws Exception {
        String text = largeText();

        HttpResponse<String> r = post("/writer", text);

        assertThat(readerBuffer.get()).isEqualTo(LeanConnector.READER_BUFFER);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(text);
    }

    @Test
    void aByteBodyLargerThanTheOutputBufferArrivesWhole() throws Exception {
        String text = largeText();

        HttpResponse<String> r = post("/bytes", text);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(text);
    }
}
