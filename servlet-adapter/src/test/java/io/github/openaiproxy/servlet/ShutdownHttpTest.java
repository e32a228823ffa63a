package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.servlet.support.RawHttp;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The engine closing under Tomcat while a request is still sending its body: its client gets a 503 in OpenAI's shape
 * with {@code Retry-After} at once (another instance may take it), never a cut exchange or a hang, and the request
 * never reaches the upstream or the ledger when the rest of its body comes.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ShutdownHttpTest {
    private static final String CHAT =
            "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";

    StubUpstream upstream;
    TomcatProxy proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    @Test
    void aRequestStillSendingItsBodyWhenTheEngineClosesIsAnswered503() throws Exception {
        AtomicInteger upstreamCalls = new AtomicInteger();
        upstream = StubUpstream.start(ex -> upstreamCalls.incrementAndGet());
        List<UsageRecord> ledger = new CopyOnWriteArrayList<>();
        ProxyEngine engine = ProxyEngine.builder(ProxyConfig.builder()
                        .apiKey("sk-server-key-123456")
                        .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                        .build())
                .usageLedger(ledger::add)
                .build();
        proxy = TomcatProxy.servlet(engine);
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        int half = body.length / 2;
        try (RawHttp client = RawHttp.connect(proxy.port())) {
            client.write("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n");
            client.write(java.util.Arrays.copyOf(body, half));
            Thread.sleep(500); // the engine reads the body (the limit step, for the ledger) and waits for the rest

            Thread closer = new Thread(engine::close, "closer");
            closer.start();
            RawHttp.Response refused = client.readResponse();

            assertThat(refused.status()).as(refused.bodyText()).isEqualTo(503);
            assertThat(refused.header("Retry-After")).hasValue("1");
            assertThat(Json.mapper()
                            .readTree(refused.bodyText())
                            .at("/error/code")
                            .asText())
                    .isEqualTo("shutting_down");
            closer.join(10_000);
            assertThat(closer.isAlive()).as("close() returns").isFalse();
            client.write(java.util.Arrays.copyOfRange(body, half, body.length)); // the rest comes late
        }
        Thread.sleep(300); // what the late body could have started
        assertThat(upstreamCalls.get()).isZero();
        assertThat(ledger).isEmpty();
    }
}
