package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A non-streamed answer longer than the proxy's prefetch (256 KiB) is relayed as it arrives, so its status
 * is out before the upstream can break off. When it does, the client must see an incomplete response
 * (the connection ends without the last chunk, or short of the Content-Length), never a complete 200
 * whose JSON is cut off. On Tomcat and on Jetty.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BrokenBodyHttpTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String IMAGE_REQUEST = "{\"model\":\"gpt-image-1\",\"prompt\":\"An otter\"}";
    /** More than the prefetch, sent before the upstream breaks. */
    private static final int SENT = 320 * 1024;

    StubUpstream upstream;
    ProxyServer proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            assertThat(upstream.handlerFailures()).isEmpty();
            upstream.close();
        }
    }

    private void start(String container, StubUpstream.Handler handler) {
        upstream = StubUpstream.start(handler);
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build();
        proxy = container.equals("tomcat") ? TomcatProxy.servlet(config) : JettyProxy.servlet(config, "/*");
    }

    /**
     * The upstream's 200: a JSON body of which {@link #SENT} bytes are sent, then (once the client holds
     * the status) a reset. With {@code declaredLength} it announces 1 MiB, else it is chunked.
     */
    private static StubUpstream.Handler breaksOffAfterThePrefetch(
            boolean declaredLength, CountDownLatch clientHasHead) {
        return ex -> {
            if (declaredLength) {
                ex.head(200, "Content-Type", "application/json", "Content-Length", Integer.toString(1024 * 1024));
            } else {
                ex.head(200, "Content-Type", "application/json");
            }
            ex.chunk("{\"data\":[{\"b64_json\":\"");
            byte[] piece = "A".repeat(32 * 1024).getBytes(StandardCharsets.US_ASCII);
            for (int sent = 0; sent < SENT; sent += piece.length) {
                ex.chunk(piece);
            }
            if (!clientHasHead.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("the client never received the status");
            }
            ex.reset();
        };
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void aChunkedAnswerThatBreaksOffEndsWithoutItsLastChunk(String container) throws Exception {
        CountDownLatch clientHasHead = new CountDownLatch(1);
        start(container, breaksOffAfterThePrefetch(false, clientHasHead));

        try (RawClient client = RawClient.post(proxy.port(), "/v1/images/generations", IMAGE_REQUEST)) {
            assertThat(client.readHead()).isEqualTo(200);
            assertThat(client.headers().get("Transfer-Encoding"))
                    .as("relayed chunked")
                    .isNotNull();
            clientHasHead.countDown();

            long[] received = new long[1];
            assertThatThrownBy(() -> {
                        byte[] chunk;
                        while ((chunk = client.readChunk()) != null) {
                            received[0] += chunk.length;
                        }
                    })
                    .as("the body ends without its last chunk")
                    .isInstanceOf(IOException.class);
            assertThat(received[0]).isLessThan(1024 * 1024);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void aChunkedAnswerThatBreaksOffFailsInAnHttpClient(String container) throws Exception {
        CountDownLatch clientHasHead = new CountDownLatch(1);
        start(container, breaksOffAfterThePrefetch(false, clientHasHead));

        assertIncompleteForAnHttpClient(clientHasHead);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tomcat", "jetty"})
    void anAnswerWithALengthThatBreaksOffEndsShort(String container) throws Exception {
        CountDownLatch clientHasHead = new CountDownLatch(1);
        start(container, breaksOffAfterThePrefetch(true, clientHasHead));

        HttpResponse<InputStream> r = assertIncompleteForAnHttpClient(clientHasHead);
        assertThat(r.headers().firstValueAsLong("Content-Length")).hasValue(1024 * 1024);
    }

    private HttpResponse<InputStream> assertIncompleteForAnHttpClient(CountDownLatch clientHasHead) throws Exception {
        HttpClient http =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<InputStream> r = http.send(
                HttpRequest.newBuilder(proxy.uri("/v1/images/generations"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(IMAGE_REQUEST))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        clientHasHead.countDown();
        try (InputStream in = r.body()) {
            assertThatThrownBy(in::readAllBytes)
                    .as("the client sees the body incomplete")
                    .isInstanceOf(IOException.class);
        }
        return r;
    }
}
