package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.config;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.SeededCases;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import io.github.openaiproxy.core.usage.UsageRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Seeded differential fuzzing of the SSE relay and its usage skim through the engine: a valid event stream (comments,
 * {@code event:}/{@code id:}/{@code retry:} fields, LF, CRLF and CR line ends, multi-line data, a usage chunk, {@code
 * [DONE]}) is fed whole and cut at random bytes (inside UTF-8 characters, between CR and LF); the client must get the
 * same bytes and the ledger the same usage either way. {@code -Dfuzz.seed=...} replays a run, {@code -Dfuzz.cases=...}
 * runs more cases.
 */
class SseRelayFuzzTest {
    private static final int CASES = 100;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_EVENT = 256 * 1024;
    private static final String USAGE_CHUNK = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
            + "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12}}\n\n";

    private static final Scripted upstream = new Scripted();
    private static final BlockingQueue<UsageRecord> ledger = new LinkedBlockingQueue<>();
    private static ProxyEngine engine;

    @BeforeAll
    static void start() {
        engine = ProxyEngine.builder(config(URI.create("http://127.0.0.1:9"))
                        .maxEventSize(MAX_EVENT)
                        .build())
                .upstreamClient(upstream)
                .usageLedger(ledger::add)
                .build();
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    @Test
    void splitStreamsRelayTheSameBytesAndUsageAsWholeOnes() {
        SeededCases.run("SSE fuzz", CASES, SseRelayFuzzTest::oneCase);
    }

    @Test
    void aLineOfSeveralMegabytesWithoutLineEndEndsTheStreamWithTheTooLargeEvent() {
        byte[] head = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n".getBytes(StandardCharsets.UTF_8);
        byte[] line = new byte[Integer.getInteger("fuzz.line-bytes", 1024 * 1024)];
        Arrays.fill(line, (byte) 'x');
        List<List<byte[]>> items = new ArrayList<>();
        items.add(List.of(head));
        for (int at = 0; at < line.length; at += 64 * 1024) {
            items.add(List.of(Arrays.copyOfRange(line, at, at + 64 * 1024)));
        }
        upstream.next.set(items);

        Answer a = hostile();

        assertThat(a.items()).hasSize(2);
        assertThat(a.items().get(0)).isEqualTo(new String(head, StandardCharsets.UTF_8));
        assertThat(a.items().get(1)).contains("\"code\":\"upstream_event_too_large\"");
        assertThat(upstream.lastCancelled.get())
                .as("the upstream read is cancelled")
                .isTrue();
        assertThat(lastUsage().upstreamStatus()).isEqualTo(200); // recorded, as every call is
    }

    @Test
    void manyEmptyEventsAreRelayedOneByOneAndTheUsageAfterThemIsRead() {
        int n = Integer.getInteger("fuzz.empty-events", 50_000);
        List<List<byte[]>> items = new ArrayList<>();
        // Empty data events, comment-only events, and blank lines alone, in reads of 64 KB.
        byte[] pattern = "data:\n\n:\n\n\n\r\n\r".getBytes(StandardCharsets.UTF_8);
        byte[] read = new byte[64 * 1024 / pattern.length * pattern.length];
        for (int at = 0; at < read.length; at += pattern.length) {
            System.arraycopy(pattern, 0, read, at, pattern.length);
        }
        for (int sent = 0; sent < n; sent += read.length / pattern.length * 2) {
            items.add(List.of(read));
        }
        items.add(List.of(USAGE_CHUNK.getBytes(StandardCharsets.UTF_8)));
        upstream.next.set(items);

        Answer a = hostile();

        assertThat(a.body().bytes())
                .isEqualTo(concat(items.stream().map(SseRelayFuzzTest::concat).toList()));
        assertThat(a.items().size()).isGreaterThanOrEqualTo(n);
        assertThat(lastUsage().usage().outputTokens()).isEqualTo(5);
    }

    @Test
    void nulBytesAndInvalidUtf8AreRelayedAsSentAndTheUsageIsStillRead() {
        byte[] bad = {
            'd',
            'a',
            't',
            'a',
            ':',
            ' ',
            '{',
            '"',
            'c',
            '"',
            ':',
            '"',
            0,
            (byte) 0xC3,
            '"',
            ',',
            (byte) 0xFF,
            (byte) 0xFE,
            '}',
            '\n',
            'd',
            'a',
            't',
            'a',
            ':',
            (byte) 0xED,
            (byte) 0xA0,
            (byte) 0x80,
            '\n',
            '\n',
            0,
            '\n',
            '\n'
        };
        byte[] cut = Arrays.copyOf(bad, 16); // ends inside a two-byte character, then a blank line
        cut[14] = '\n';
        cut[15] = '\n';
        byte[] usage = USAGE_CHUNK.getBytes(StandardCharsets.UTF_8);
        upstream.next.set(List.of(List.of(bad), List.of(cut), List.of(usage)));

        Answer a = hostile();

        assertThat(a.body().bytes()).isEqualTo(concat(List.of(bad, cut, usage)));
        assertThat(lastUsage().usage().inputTokens()).isEqualTo(7);
    }

    /** Streams the scripted answer to a client that asked for usage. */
    private static Answer hostile() {
        Answer a = EngineFixture.send(
                engine,
                ProxyRequest.builder("POST", "/v1/chat/completions")
                        .header("Content-Type", "application/json")
                        .body("{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
                                .getBytes(StandardCharsets.UTF_8)));
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.streaming()).isTrue();
        return a;
    }

    private static UsageRecord lastUsage() {
        try {
            UsageRecord u = ledger.poll(5, TimeUnit.SECONDS);
            assertThat(u).as("ledger record").isNotNull();
            return u;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static void oneCase(long seed) {
        Random r = new Random(seed);
        boolean clientAsks = r.nextBoolean(); // else the proxy injects include_usage and hides what it added
        Stream s = Stream.generate(r);
        byte[] bytes = s.text.getBytes(StandardCharsets.UTF_8);

        Run whole = run(List.of(List.of(bytes)), clientAsks);
        Run split = run(split(r, bytes), clientAsks);

        assertThat(split.body).as("bytes, split vs whole").isEqualTo(whole.body);
        assertThat(split.usage.usage()).as("usage, split vs whole").isEqualTo(whole.usage.usage());
        assertThat(split.usage.estimated()).isFalse();
        assertThat(split.usage.usage().inputTokens()).isEqualTo(s.promptTokens);
        assertThat(split.usage.usage().outputTokens()).isEqualTo(s.completionTokens);
        if (clientAsks) {
            assertThat(new String(split.body, StandardCharsets.UTF_8))
                    .as("the stream as sent")
                    .isEqualTo(s.text);
        } else {
            // A chunk over several data lines keeps its "usage":null (documented): only the usage chunk must go.
            List<JsonNode> got = dataOf(split.body);
            got.forEach(e -> {
                if (e.path("usage").isNull()) {
                    ((ObjectNode) e).remove("usage");
                }
            });
            assertThat(got)
                    .as("the events without the injected usage; sent %s, got %s", escaped(s.text), escaped(split.body))
                    .isEqualTo(s.withoutUsage());
        }
    }

    /** What a client of the engine received, and the ledger's record of it. */
    private record Run(byte[] body, UsageRecord usage) {}

    private static Run run(List<List<byte[]>> items, boolean clientAsks) {
        upstream.next.set(items);
        String body = "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
                + (clientAsks ? "\"stream_options\":{\"include_usage\":true}," : "")
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        Answer a = EngineFixture.send(
                engine,
                ProxyRequest.builder("POST", "/v1/chat/completions")
                        .header("Content-Type", "application/json")
                        .body(body.getBytes(StandardCharsets.UTF_8)));
        assertThat(a.status()).as(a.text()).isEqualTo(200);
        try {
            UsageRecord u = ledger.poll(5, TimeUnit.SECONDS);
            assertThat(u).as("ledger record").isNotNull();
            return new Run(a.body().bytes(), u);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * Cuts {@code bytes} at random places, favouring the awkward ones (between CR and LF, inside a multi-byte
     * character), and groups the pieces into items of one or more buffers, as an HTTP client delivers them.
     */
    static List<List<byte[]>> split(Random r, byte[] bytes) {
        TreeSet<Integer> cuts = new TreeSet<>();
        int n = 1 + r.nextInt(Math.max(1, bytes.length / 8));
        for (int i = 0; i < n; i++) {
            cuts.add(1 + r.nextInt(Math.max(1, bytes.length - 1)));
        }
        for (int i = 1; i < bytes.length; i++) {
            boolean crlf = bytes[i - 1] == '\r' && bytes[i] == '\n';
            boolean insideChar = (bytes[i] & 0xC0) == 0x80;
            if ((crlf || insideChar) && r.nextInt(3) == 0) {
                cuts.add(i);
            }
        }
        List<byte[]> pieces = new ArrayList<>();
        int from = 0;
        for (int c : cuts) {
            if (c > from && c < bytes.length) {
                pieces.add(Arrays.copyOfRange(bytes, from, c));
                from = c;
            }
        }
        pieces.add(Arrays.copyOfRange(bytes, from, bytes.length));
        List<List<byte[]>> items = new ArrayList<>();
        for (int i = 0; i < pieces.size(); ) {
            int k = Math.min(pieces.size() - i, r.nextInt(4) == 0 ? 1 + r.nextInt(3) : 1);
            items.add(pieces.subList(i, i + k));
            i += k;
        }
        return items;
    }

    /** A random valid chat completion stream and what it should meter. */
    private record Stream(String text, List<JsonNode> events, long promptTokens, long completionTokens) {
        static Stream generate(Random r) {
            String[] ends = {"\n", "\r\n", "\r"};
            int endsMode = r.nextInt(4); // one of the three for the whole stream, or mixed per line
            String fixedEnd = ends[Math.min(endsMode, 2)];
            StringBuilder t = new StringBuilder();
            List<JsonNode> events = new ArrayList<>();
            java.util.function.Supplier<String> eol = () -> {
                String e = endsMode == 3 ? ends[r.nextInt(3)] : fixedEnd;
                // A bare CR then an LF would be one CRLF, not two line ends: after a CR, no LF on its own.
                return e.equals("\n") && t.length() > 0 && t.charAt(t.length() - 1) == '\r' ? "\r\n" : e;
            };
            if (r.nextInt(4) == 0) {
                t.append('\uFEFF'); // a byte order mark, which a client's parser skips
            }
            int chunks = 1 + r.nextInt(8);
            long prompt = r.nextInt(100_000);
            long completion = r.nextInt(100_000);
            for (int i = 0; i <= chunks + 1; i++) {
                ObjectNode e = JSON.createObjectNode();
                e.put("id", "chatcmpl-" + i);
                e.put("object", "chat.completion.chunk");
                e.put("created", 1741569952);
                e.put("model", "gpt-4o-mini-2024-07-18");
                if (i <= chunks) {
                    ObjectNode choice = e.putArray("choices").addObject();
                    choice.put("index", 0);
                    choice.putObject("delta").put("content", randomText(r));
                    choice.putNull("finish_reason");
                    e.putNull("usage");
                } else {
                    e.putArray("choices");
                    ObjectNode u = e.putObject("usage");
                    u.put("prompt_tokens", prompt);
                    u.put("completion_tokens", completion);
                    u.put("total_tokens", prompt + completion);
                }
                events.add(e);
                while (r.nextInt(5) == 0) {
                    t.append(": keep-alive ").append(randomText(r)).append(eol.get()); // a comment
                }
                if (r.nextInt(4) == 0) {
                    t.append("id: ").append(i).append(eol.get());
                }
                if (r.nextInt(6) == 0) {
                    t.append("event: message").append(eol.get());
                }
                if (r.nextInt(8) == 0) {
                    t.append("retry: 3000").append(eol.get());
                }
                String json = e.toString();
                if (r.nextInt(5) == 0) {
                    // Over two data lines, cut after a member: the line feed that joins them is JSON whitespace.
                    int comma = json.indexOf(",\"object\"");
                    t.append("data: ").append(json, 0, comma + 1).append(eol.get());
                    t.append("data:").append(json.substring(comma + 1)).append(eol.get());
                } else {
                    t.append(r.nextBoolean() ? "data: " : "data:").append(json).append(eol.get());
                }
                t.append(eol.get());
                while (r.nextInt(6) == 0) {
                    t.append(eol.get()); // stray blank lines between events
                }
            }
            t.append("data: [DONE]").append(eol.get()).append(eol.get());
            return new Stream(t.toString(), events, prompt, completion);
        }

        /** The events' JSON as the client should see them when it did not ask for usage. */
        List<JsonNode> withoutUsage() {
            List<JsonNode> out = new ArrayList<>();
            for (JsonNode e : events) {
                if (e.get("usage").isNull()) {
                    ObjectNode copy = e.deepCopy();
                    copy.remove("usage");
                    out.add(copy);
                }
            }
            return out;
        }
    }

    /** Random text: ASCII, accents, CJK, emoji (four UTF-8 bytes), quotes and escapes. */
    private static String randomText(Random r) {
        String[] pieces = {"Hello", " ", "é", "你好", "😀", "\"", "\\", "\t", "a", "ü€", "\u2028"};
        StringBuilder b = new StringBuilder();
        int n = r.nextInt(12);
        for (int i = 0; i < n; i++) {
            b.append(pieces[r.nextInt(pieces.length)]);
        }
        return b.toString();
    }

    /**
     * A reference reading of an event stream (the WHATWG algorithm: lines end at CRLF, LF or CR; a blank line
     * dispatches; data lines join with LF): the JSON of every event but {@code [DONE]}.
     */
    static List<JsonNode> dataOf(byte[] body) {
        String s = new String(body, StandardCharsets.UTF_8);
        if (s.startsWith("\uFEFF")) {
            s = s.substring(1);
        }
        List<JsonNode> out = new ArrayList<>();
        StringBuilder data = null;
        int i = 0;
        while (i < s.length()) {
            int end = i;
            while (end < s.length() && s.charAt(end) != '\n' && s.charAt(end) != '\r') {
                end++;
            }
            String line = s.substring(i, end);
            i = end < s.length() && s.charAt(end) == '\r' && end + 1 < s.length() && s.charAt(end + 1) == '\n'
                    ? end + 2
                    : end + 1;
            if (line.isEmpty()) {
                if (data != null && !data.toString().equals("[DONE]")) {
                    try {
                        out.add(JSON.readTree(data.toString()));
                    } catch (IOException e) {
                        throw new AssertionError("not JSON: " + data, e);
                    }
                }
                data = null;
            } else if (line.startsWith("data")) {
                String field = line.indexOf(':') < 0 ? line : line.substring(0, line.indexOf(':'));
                if (field.equals("data")) {
                    String v = line.length() > 4 ? line.substring(5) : "";
                    v = v.startsWith(" ") ? v.substring(1) : v;
                    data = data == null
                            ? new StringBuilder(v)
                            : data.append('\n').append(v);
                }
            }
        }
        return out;
    }

    /** The upstream: answers every call with the next scripted stream, its items as given, on demand. */
    static final class Scripted implements UpstreamClient {
        final AtomicReference<List<List<byte[]>>> next = new AtomicReference<>();
        final AtomicReference<AtomicBoolean> lastCancelled = new AtomicReference<>(new AtomicBoolean());

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            return CompletableFuture.completedFuture(new UpstreamResponse(
                    200,
                    new HeaderMap().set("Content-Type", "text/event-stream").build(),
                    new ItemsPublisher(next.get(), lastCancelled.updateAndGet(x -> new AtomicBoolean()))));
        }

        @Override
        public UpstreamClient withTimeouts(Duration connect, Duration response) {
            return this;
        }

        @Override
        public void close() {}
    }

    /** Publishes the given items as demanded, then completes; reentrant requests are queued, not recursed. */
    static final class ItemsPublisher implements Flow.Publisher<List<ByteBuffer>> {
        private final List<List<byte[]>> items;

        private final AtomicBoolean cancelled;

        ItemsPublisher(List<List<byte[]>> items, AtomicBoolean cancelled) {
            this.items = items;
            this.cancelled = cancelled;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> s) {
            s.onSubscribe(new Flow.Subscription() {
                private final AtomicLong demand = new AtomicLong();
                private final AtomicBoolean draining = new AtomicBoolean();
                private volatile boolean done;
                private int at;

                @Override
                public void request(long n) {
                    demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
                    while (!done && draining.compareAndSet(false, true)) {
                        try {
                            while (!done && demand.get() > 0 && at < items.size()) {
                                demand.decrementAndGet();
                                List<ByteBuffer> item = new ArrayList<>();
                                for (byte[] b : items.get(at++)) {
                                    item.add(ByteBuffer.wrap(b));
                                }
                                s.onNext(item);
                            }
                            if (!done && at == items.size()) {
                                done = true;
                                s.onComplete();
                            }
                        } finally {
                            draining.set(false);
                        }
                        if (done || demand.get() == 0) {
                            return;
                        }
                    }
                }

                @Override
                public void cancel() {
                    cancelled.set(true);
                    done = true;
                }
            });
        }
    }

    private static String escaped(Object text) {
        String t = text instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : (String) text;
        return t.replace("\r", "\\r").replace("\n", "\\n\n");
    }

    /** The bytes of a list of pieces, concatenated. */
    static byte[] concat(List<byte[]> pieces) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        pieces.forEach(out::writeBytes);
        return out.toByteArray();
    }
}
