package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.BodyReadingUpstream;
import io.github.openaiproxy.servlet.StreamedPassThroughBodyHttpTest.Received;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A client that trickles its body, a byte at a time well inside the container's read timeout, is cut off at
 * {@code request-body-timeout} with a JSON 408, whether the body is read whole (the simple route) or streamed to
 * the upstream ({@code /v1}, whose upstream call is aborted): the per-read timeout alone let it hold a connection,
 * a buffer and an upstream call for as long as it liked.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RequestBodyDeadlineHttpTest {
    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    /** One byte every this often: far inside any container's read timeout. */
    private static final long TRICKLE_MILLIS = 100;

    private BodyReadingUpstream upstream;
    private ProxyServer proxy;

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    @ParameterizedTest(name = "{0} container, {1}")
    @CsvSource({"tomcat,/", "tomcat,/v1/chat/completions", "jetty,/", "jetty,/v1/chat/completions"})
    void aTrickledBodyIsCutOffAtTheDeadlineWith408(String container, String path) throws Exception {
        upstream = BodyReadingUpstream.start();
        ProxyConfig config = ProxySettings.from(Map.of("request-body-timeout", "1s"))
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
        // Padded: sent whole, the trickle would last some 30 s, its bytes 100 ms apart.
        byte[] body = (CHAT.substring(0, CHAT.length() - 1) + ",\"user\":\"" + "x".repeat(300) + "\"}")
                .getBytes(StandardCharsets.UTF_8);

        long started = System.nanoTime();
        RawHttp.Response response;
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n");
            AtomicBoolean answered = new AtomicBoolean();
            Thread trickle = new Thread(() -> {
                try {
                    for (int i = 0; i < body.length && !answered.get(); i++) {
                        c.write(new byte[] {body[i]});
                        Thread.sleep(TRICKLE_MILLIS);
                    }
                } catch (UncheckedIOException | InterruptedException cut) {
                    // the proxy closed the connection: what it answered is read below
                }
            });
            trickle.start();
            response = c.readResponse();
            answered.set(true);
            trickle.join();
        }
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

        assertThat(response.status()).as(response.bodyText()).isEqualTo(408);
        com.fasterxml.jackson.databind.JsonNode error =
                Json.parse(response.body()).path("error");
        if (path.startsWith("/v1")) {
            assertThat(error.path("code").asText()).as("OpenAI's shape").isEqualTo("request_timeout");
            assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
        } else {
            assertThat(error.asText()).as("the simple routes' shape").isEqualTo("Request Timeout");
        }
        assertThat(tookMillis)
                .as("cut off near the 1 s deadline, not after the whole body")
                .isLessThan(5_000);
        if (path.startsWith("/v1")) {
            Received received = upstream.received.get(10, TimeUnit.SECONDS);
            assertThat(received.complete())
                    .as("the upstream's copy of the body was cut off")
                    .isFalse();
        }
    }

    /**
     * A body that arrives steadily, above {@code request-body-min-rate}, is not cut at {@code request-body-timeout}:
     * each byte received extends the deadline, so an honest large upload on a slow link (512 MB take 18 hours at 64
     * kbit/s, far past the 30 minutes) goes through, while the trickle above gains next to nothing.
     */
    @ParameterizedTest(name = "{0} container, {1}")
    @CsvSource({"tomcat,/", "tomcat,/v1/chat/completions", "jetty,/", "jetty,/v1/chat/completions"})
    void aBodyArrivingAboveTheMinimumRateOutlastsTheTimeout(String container, String path) throws Exception {
        upstream = BodyReadingUpstream.start();
        ProxyConfig config = ProxySettings.from(Map.of("request-body-timeout", "1s", "request-body-min-rate", "1KB"))
                .applyTo(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl())))
                .build();
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
        // 12 KB in pieces of 256 bytes, 50 ms apart: about 5 KB/s for 2.4 s, more than twice the timeout.
        byte[] body = (CHAT.substring(0, CHAT.length() - 1) + ",\"user\":\"" + "x".repeat(12_000) + "\"}")
                .getBytes(StandardCharsets.UTF_8);

        long started = System.nanoTime();
        RawHttp.Response response;
        try (RawHttp c = RawHttp.connect(proxy.port())) {
            c.write("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n");
            for (int at = 0; at < body.length; at += 256) {
                c.write(java.util.Arrays.copyOfRange(body, at, Math.min(body.length, at + 256)));
                Thread.sleep(50);
            }
            response = c.readResponse();
        }
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

        assertThat(tookMillis).as("the body took longer than the 1 s timeout").isGreaterThan(1_500);
        assertThat(response.status()).as(response.bodyText()).isEqualTo(200);
        Received received = upstream.received.get(10, TimeUnit.SECONDS);
        assertThat(received.complete()).as("the upstream got the whole body").isTrue();
    }
}
