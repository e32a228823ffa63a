package io.github.openaiproxy.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.awaitility.Awaitility;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.event.ContextClosedEvent;

/**
 * The application's context closing (SIGTERM in production) with a stream that would never end and a long completion
 * in flight, under Spring Boot's graceful shutdown (its default): the completion finishes and is answered whole; the
 * stream holds the shutdown until {@code spring.lifecycle.timeout-per-shutdown-phase}, then is cut without a
 * complete-looking end; the engine closes after the web server, so both requests reach the usage ledger and both
 * concurrency leases are given back.
 */
class ShutdownIntegrationTests {
    private static final String DB = "jdbc:h2:mem:shutdown-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1";

    final CountDownLatch streaming = new CountDownLatch(1);
    final CountDownLatch slowCall = new CountDownLatch(1);
    final CountDownLatch releaseUpstream = new CountDownLatch(1);
    /** The context began to close: the slow completion answers a little after. */
    final CountDownLatch closeBegun = new CountDownLatch(1);

    ExecutorService upstreamThreads;
    HttpServer upstream;

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class Application {
        @Bean
        DataSource dataSource() {
            JdbcDataSource h2 = new JdbcDataSource();
            h2.setURL(DB);
            return h2;
        }
    }

    @BeforeEach
    void startUpstream() throws IOException {
        upstream = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        upstreamThreads = Executors.newFixedThreadPool(8);
        upstream.setExecutor(upstreamThreads);
        upstream.createContext("/", ex -> {
            String request = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            if (request.contains("\"stream\":true")) {
                // One event, then nothing until the test ends: a stream that never ends by itself.
                ex.getResponseHeaders().add("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                ex.getResponseBody()
                        .write(("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
                                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")
                                .getBytes(StandardCharsets.UTF_8));
                ex.getResponseBody().flush();
                streaming.countDown();
                awaitQuietly(releaseUpstream, 5, TimeUnit.MINUTES);
                ex.close();
                return;
            }
            if (request.contains("slow")) {
                slowCall.countDown();
                // Answered once the context closes, not after a fixed second: on a loaded machine a second may pass
                // before the test sees both leases, or before the close begins, and the completion would not be in
                // flight then.
                awaitQuietly(closeBegun, 60, TimeUnit.SECONDS);
                awaitQuietly(releaseUpstream, 500, TimeUnit.MILLISECONDS); // into the graceful shutdown
            }
            byte[] body = Upstream.COMPLETION.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        upstream.start();
    }

    @AfterEach
    void stopUpstream() {
        releaseUpstream.countDown();
        upstream.stop(0);
        upstreamThreads.shutdownNow();
    }

    @Test
    void closingTheContextFinishesACompletionCutsANeverEndingStreamAndSettlesBoth() throws Exception {
        ConfigurableApplicationContext context = new SpringApplicationBuilder(Application.class)
                .listeners(event -> {
                    if (event instanceof ContextClosedEvent) {
                        closeBegun.countDown();
                    }
                })
                .properties(
                        "server.port=0",
                        "server.address=127.0.0.1",
                        "spring.lifecycle.timeout-per-shutdown-phase=3s",
                        "openai.proxy.api-key=" + Upstream.KEY,
                        "openai.proxy.base-url=http://127.0.0.1:"
                                + upstream.getAddress().getPort(),
                        "openai.proxy.ledger.store=jdbc",
                        "openai.proxy.limits.store=jdbc",
                        "openai.proxy.policies.anonymous.concurrent-requests=5")
                .run();
        int port = ((WebServerApplicationContext) context).getWebServer().getPort();
        try (Socket stream = new Socket(InetAddress.getLoopbackAddress(), port);
                Socket completion = new Socket(InetAddress.getLoopbackAddress(), port)) {
            post(
                    stream,
                    port,
                    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                            + "\"content\":\"Hi\"}]}");
            post(
                    completion,
                    port,
                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"slow\"}]}");
            assertThat(streaming.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(slowCall.await(30, TimeUnit.SECONDS)).isTrue();
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> count("openai_proxy_limit_leases") == 2);

            long started = System.nanoTime();
            Thread closer = new Thread(context::close, "context-close");
            closer.start();

            String answered = readAll(completion);
            assertThat(answered).startsWith("HTTP/1.1 200").endsWith("\"total_tokens\":13}}");
            String streamed = readAll(stream);
            assertThat(streamed).startsWith("HTTP/1.1 200").contains("\"content\":\"Hel\"");
            assertThat(streamed).as("a chunked body without its last chunk").doesNotEndWith("0\r\n\r\n");
            closer.join(60_000);
            assertThat(closer.isAlive()).isFalse();
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(20));
        }
        assertThat(count("openai_proxy_usage")).isEqualTo(2);
        assertThat(count("openai_proxy_limit_leases")).as("leases left").isZero();
    }

    private static long count(String table) throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL(DB);
        try (Connection c = h2.getConnection();
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void post(Socket s, int port, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + port
                        + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + b.length
                        + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
    }

    /** Everything the server sent until it closed the connection. */
    private static String readAll(Socket s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        s.setSoTimeout(30_000);
        try {
            s.getInputStream().transferTo(out);
        } catch (IOException e) {
            // reset: what came before it is the answer
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static void awaitQuietly(CountDownLatch latch, long time, TimeUnit unit) {
        try {
            latch.await(time, unit);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
