package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.lang.management.ManagementFactory;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What one request pins on the heap while its upstream call runs, measured after a full collection: a body of many
 * tiny JSON values must not cost many times its own size for as long as the upstream takes.
 */
class HeldHeapHttpTest {
    static final Duration WAIT = Duration.ofSeconds(60);
    static final int BODY = 9 * 1024 * 1024;

    final CountDownLatch answer = new CountDownLatch(1);
    StubUpstream upstream;
    TomcatProxy proxy;

    @AfterEach
    void stop() {
        answer.countDown();
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    static byte[] manyEmptyObjects(String prefix) {
        StringBuilder sb = new StringBuilder(BODY + 100).append(prefix).append("\"padding\":[{}");
        while (sb.length() < BODY - 10) {
            sb.append(",{}");
        }
        return sb.append("]}").toString().getBytes(StandardCharsets.UTF_8);
    }

    static long usedHeap() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @Test
    void aBodyOfManyEmptyObjectsOnTheSimpleRoutePinsAboutItsOwnSize() throws Exception {
        startUpstream();
        start(ProxyConfig.builder());
        assertHeldWhileTheUpstreamAnswers(
                "/", manyEmptyObjects("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"));
    }

    @Test
    void aBodyOfManyEmptyObjectsRoutedToANamedUpstreamPinsAboutItsOwnSize() throws Exception {
        startUpstream();
        start(ProxySettings.from(Map.of(
                        "upstreams.main.base-url", upstream.baseUrl().toString(),
                        "upstreams.main.keys", "sk-main-0123456789abcdefghijklmnop",
                        "upstreams.main.models", "gpt-4o"))
                .applyTo(ProxyConfig.builder()));
        assertHeldWhileTheUpstreamAnswers(
                "/v1/chat/completions",
                manyEmptyObjects("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"));
    }

    /** An upstream that answers once the test has measured. */
    private void startUpstream() {
        upstream = StubUpstream.start(ex -> {
            answer.await(60, TimeUnit.SECONDS);
            ex.respond(200, "application/json", "{\"id\":\"c\",\"choices\":[]}".getBytes(StandardCharsets.UTF_8));
        });
    }

    private void start(ProxyConfig.Builder config) {
        proxy = TomcatProxy.servlet(config.apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build());
    }

    private void assertHeldWhileTheUpstreamAnswers(String path, byte[] body) throws Exception {
        long before = usedHeap();
        CompletableFuture<HttpResponse<String>> sent = HttpClient.newHttpClient()
                .sendAsync(
                        HttpRequest.newBuilder(proxy.uri(path))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        StubUpstream.Exchange exchange = upstream.awaitExchange(WAIT);
        long held = usedHeap() - before;
        answer.countDown();
        assertThat(sent.get(60, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        assertThat(exchange.request().body().length).isGreaterThan(BODY - 100);
        // The bytes as read, as sent and as the stub keeps them, and buffers: a few times the body, never a tree
        // (the trees of a body of empty objects held about 70 times its size, 650 MB for 9 MB).
        assertThat(held).as("bytes held while the upstream answers").isLessThan(8L * body.length);
    }
}
