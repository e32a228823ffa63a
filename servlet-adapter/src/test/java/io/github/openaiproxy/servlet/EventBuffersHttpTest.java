package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.RawClient;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Unfinished upstream events are bounded across streams, not only one by one: with {@code max-event-size} 64 KB,
 * the streams together buffer at most 1 MB, so 28 streams each held inside an event of 60 KB cannot all keep
 * theirs (with the default 16 MB, a thousand streams could hold 16 GB, and each up to twice its event). The streams over the bound end with {@code upstream_event_too_large}; the others relay their big
 * event whole.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class EventBuffersHttpTest {
    static final int STREAMS = 28;
    static final int MAX_EVENT = 64 * 1024;
    static final String STREAM_REQUEST =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static final String FIRST = "data: {\"choices\":[]}\n\n";
    static final String BIG = "data: " + "x".repeat(60_000);

    final CountDownLatch finish = new CountDownLatch(1);
    final List<RawClient> clients = new ArrayList<>();
    final ExecutorService readers = Executors.newCachedThreadPool();
    StubUpstream upstream;
    TomcatProxy proxy;

    @AfterEach
    void stop() throws Exception {
        finish.countDown();
        for (RawClient c : clients) {
            c.close();
        }
        readers.shutdownNow();
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    @Test
    void theUnfinishedEventsOfAllStreamsAreBoundedTogether() throws Exception {
        upstream = StubUpstream.start(ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(FIRST);
            ex.chunk(BIG); // no blank line yet: the proxy holds it until the event ends
            while (!finish.await(50, TimeUnit.MILLISECONDS)) {
                if (ex.peerClosed()) {
                    return;
                }
            }
            ex.chunk("\n\n");
            ex.endChunks();
        });
        proxy = TomcatProxy.servlet(ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .maxEventSize(MAX_EVENT)
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build());
        List<Future<String>> next = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            RawClient c = RawClient.post(proxy.port(), "/v1/chat/completions", STREAM_REQUEST);
            clients.add(c);
            assertThat(c.readHead()).isEqualTo(200);
            assertThat(c.readEvent()).isEqualTo(FIRST);
            next.add(readers.submit(c::readEvent));
        }

        // 1 MB holds at most 17 of the 28 unfinished events (each buffer's first 4 KB uncounted): the others end.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        List<String> ended = List.of();
        while (System.nanoTime() < deadline && ended.size() < STREAMS - 17) {
            Thread.sleep(100);
            ended = next.stream()
                    .filter(Future::isDone)
                    .map(EventBuffersHttpTest::get)
                    .toList();
        }
        assertThat(ended)
                .as("streams ended while their upstream was inside an event")
                .hasSizeGreaterThanOrEqualTo(STREAMS - 17);
        assertThat(ended).allSatisfy(e -> assertThat(e).contains("\"code\":\"upstream_event_too_large\""));

        // The streams within the bound relay their event whole once it ends.
        finish.countDown();
        int whole = 0;
        for (Future<String> f : next) {
            String e = f.get(60, TimeUnit.SECONDS);
            if (!e.contains("upstream_event_too_large")) {
                assertThat(e).isEqualTo(BIG + "\n\n");
                whole++;
            }
        }
        assertThat(whole).as("streams that kept their event").isGreaterThanOrEqualTo(8);
    }

    private static String get(Future<String> f) {
        try {
            return f.get();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
