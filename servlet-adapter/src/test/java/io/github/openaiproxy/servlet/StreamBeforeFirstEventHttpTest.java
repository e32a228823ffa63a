package io.github.openaiproxy.servlet;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An upstream that answers {@code 200 text/event-stream} and breaks (reset, end of stream) before its first event,
 * after nothing, a comment or half an event, has sent the client nothing: over real HTTP through Tomcat it is
 * retried and taken to the fallback as a 502 is ({@code oa broken, oa 200}), the usage settled once; with nothing
 * left the client gets a 502 JSON error, not a 200 with an error event. One event out, a break stays the SSE error
 * event, never retried. One Tomcat and one raw socket stub for the class; each test names its own case in the
 * prompt, which the stub reads.
 */
class StreamBeforeFirstEventHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String EVENT1 = "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    private static final String EVENT2 = "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n";
    private static final String DONE = "data: [DONE]\n\n";

    @RegisterExtension
    static WireMockExtension backup = Upstream.extension();

    private static final InMemoryUsageLedger LEDGER =
            new InMemoryUsageLedger(InMemoryUsageLedger.DEFAULT_MAX_ROWS, Duration.ofDays(1), Clock.systemUTC());
    /** Calls per case: the first breaks as its case says, the next ones stream whole. */
    private static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    /** Opened by a test once its client holds the first event (the case {@code event}). */
    private static volatile CountDownLatch clientHasOne = new CountDownLatch(1);

    private static StubUpstream stub;
    private static TomcatProxy proxy;

    @BeforeAll
    static void start() {
        stub = StubUpstream.start(StreamBeforeFirstEventHttpTest::serve);
        Map<String, String> s = new HashMap<>();
        String key = "sk-stub-0123456789abcdefghijklmnop";
        s.put("upstreams.oa.base-url", stub.baseUrl().toString());
        s.put("upstreams.oa.keys", key);
        s.put("upstreams.oa.models", "gpt-4o");
        s.put("upstreams.oa.retries", "1");
        s.put("upstreams.solo.base-url", stub.baseUrl().toString());
        s.put("upstreams.solo.keys", key);
        s.put("upstreams.solo.models", "gpt-solo");
        s.put("upstreams.solo.retries", "0");
        s.put("upstreams.fb.base-url", stub.baseUrl().toString());
        s.put("upstreams.fb.keys", key);
        s.put("upstreams.fb.models", "gpt-fb");
        s.put("upstreams.fb.retries", "0");
        s.put("upstreams.fb.fallback", "backup");
        s.put("upstreams.backup.kind", "compatible");
        s.put("upstreams.backup.base-url", backup.baseUrl());
        proxy = TomcatProxy.servlet(ProxyEngine.builder(ProxySettings.from(s).toConfig())
                .usageLedger(LEDGER)
                .build());
    }

    @AfterAll
    static void stop() {
        proxy.close();
        stub.close();
    }

    /** The stub: {@code case:<how>} in the prompt says how its first call breaks; later calls stream whole. */
    private static void serve(StubUpstream.Exchange ex) throws Exception {
        String body = ex.request().bodyText();
        int at = body.indexOf("case:");
        String id = body.substring(at + 5, body.indexOf('"', at));
        String how = id.substring(0, id.indexOf('/'));
        int call = CALLS.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
        ex.head(200, "Content-Type", "text/event-stream");
        if (call == 1 || how.equals("always")) {
            switch (how) {
                case "headers", "always" -> ex.reset();
                case "comment" -> {
                    ex.chunk(": keep-alive\n\n\n");
                    ex.reset();
                }
                case "half" -> {
                    ex.chunk("data: {\"id\":\"c1\",\"choi");
                    ex.reset();
                }
                case "eof" -> {
                    ex.chunk(": processing\n\n");
                    ex.endChunks();
                }
                case "event" -> {
                    ex.chunk(EVENT1);
                    if (!clientHasOne.await(20, TimeUnit.SECONDS)) {
                        throw new AssertionError("the client did not receive the first event");
                    }
                    ex.chunk("data: {\"id\":\"c1"); // half of the second
                    ex.reset();
                }
                default -> throw new IllegalArgumentException(how);
            }
            return;
        }
        ex.chunk(": keep-alive\n\n"); // before the first event of a stream that works: held, never relayed
        ex.chunk(EVENT1);
        ex.chunk(EVENT2);
        ex.chunk(DONE);
        ex.endChunks();
    }

    private static int n;

    /** A streamed chat request for {@code model} whose prompt names a fresh case of {@code how}. */
    private static HttpRequest chat(String model, String how) {
        String id = how + "/" + (++n) + "-" + System.nanoTime();
        return Http.request(proxy.uri("/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"" + model + "\",\"stream\":true,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"case:" + id + "\"}]}"))
                .build();
    }

    private static int callsOf(String how) {
        return CALLS.entrySet().stream()
                .filter(e -> e.getKey().startsWith(how + "/"))
                .mapToInt(e -> e.getValue().get())
                .sum();
    }

    @ParameterizedTest(name = "broken after {0}")
    @ValueSource(strings = {"headers", "comment", "half", "eof"})
    void aStreamThatBreaksBeforeItsFirstEventIsRetriedAndTheClientGetsOnlyTheWholeStream(String how) throws Exception {
        int rows = LEDGER.rows().size();

        HttpResponse<String> r = Http.send(chat("gpt-4o", how));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("oa broken, oa 200");
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("text/event-stream"));
        // Nothing of the broken call, and no comment before the first event.
        assertThat(r.body()).isEqualTo(EVENT1 + EVENT2 + DONE);
        assertThat(callsOf(how)).isEqualTo(2);
        // Settled once, for the stream that was relayed.
        awaitRowsAfter(rows);
        List<UsageRecord> added = LEDGER.rows().subList(rows, LEDGER.rows().size());
        assertThat(added).singleElement().satisfies(row -> {
            assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.COMPLETED);
            assertThat(row.upstream()).isEqualTo("oa");
        });
    }

    @Test
    void aBrokenStreamTakesTheFallbackAsA502Would() {
        backup.stubFor(post(urlPathEqualTo("/v1/chat/completions"))
                .willReturn(aResponse()
                        .withHeader("Content-Type", "text/event-stream")
                        .withBody(EVENT1 + DONE)));

        HttpResponse<String> r = Http.send(chat("gpt-fb", "headers"));

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("fb broken, backup 200");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Upstream")).contains("backup");
        assertThat(r.body()).isEqualTo(EVENT1 + DONE);
    }

    @Test
    void withNothingLeftToTryTheClientGetsA502JsonErrorNotAnEventStream() throws Exception {
        int rows = LEDGER.rows().size();

        HttpResponse<String> r = Http.send(chat("gpt-solo", "comment"));

        assertThat(r.statusCode()).isEqualTo(502);
        assertThat(r.headers().firstValue("Content-Type")).contains("application/json");
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("solo broken");
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertThat(error.get("code").asText()).isEqualTo("upstream_disconnected");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        awaitRowsAfter(rows);
        assertThat(LEDGER.rows().subList(rows, LEDGER.rows().size()))
                .singleElement()
                .satisfies(row -> assertThat(row.outcome()).isEqualTo(UsageRecord.Outcome.UPSTREAM_FAILED));
    }

    @Test
    void retriesSpentTheLastBrokenStreamIsA502() throws Exception {
        HttpResponse<String> r = Http.send(chat("gpt-4o", "always"));

        assertThat(r.statusCode()).isEqualTo(502);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("oa broken, oa broken");
        assertThat(JSON.readTree(r.body()).path("error").path("code").asText()).isEqualTo("upstream_disconnected");
    }

    @Test
    void aStreamThatBreaksAfterItsFirstEventIsNotRetriedAndEndsWithTheErrorEvent() throws Exception {
        clientHasOne = new CountDownLatch(1);
        HttpResponse<InputStream> r = Http.send(chat("gpt-4o", "event"), HttpResponse.BodyHandlers.ofInputStream());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("OpenAI-Proxy-Attempts")).contains("oa 200");
        List<String> events = new ArrayList<>();
        try (InputStream in = r.body()) {
            events.add(readEvent(in));
            clientHasOne.countDown();
            for (String e = readEvent(in); e != null; e = readEvent(in)) {
                events.add(e);
            }
        }
        assertThat(events).hasSize(2);
        assertThat(events.get(0)).isEqualTo(EVENT1);
        assertThat(events.get(1)).startsWith("data: {\"error\":").contains("upstream_disconnected");
        assertThat(callsOf("event")).isEqualTo(1);
    }

    /** Waits (polling, bounded) for a ledger row past the first {@code rows}. */
    private static void awaitRowsAfter(int rows) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (LEDGER.rows().size() <= rows && System.nanoTime() - deadline < 0) {
            Thread.sleep(5);
        }
    }

    /** One SSE event, up to and including its blank line; {@code null} at the end of the stream. */
    private static String readEvent(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != -1) {
            out.write(c);
            byte[] b = out.toByteArray();
            int len = b.length;
            if (len >= 2 && b[len - 1] == '\n' && b[len - 2] == '\n') {
                return out.toString(StandardCharsets.UTF_8);
            }
        }
        return out.size() == 0 ? null : out.toString(StandardCharsets.UTF_8);
    }
}
