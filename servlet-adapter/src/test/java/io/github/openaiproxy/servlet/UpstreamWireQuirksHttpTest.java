package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What compatible servers (vLLM, Ollama, llama.cpp, LM Studio, OpenRouter, Azure, ...) send that OpenAI does not,
 * relayed over real HTTP with both upstream clients, with the proxy's usage counting (a ledger: the proxy asks for
 * usage the client did not) on and off: the client gets the upstream's bytes, less only what the proxy added.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UpstreamWireQuirksHttpTest {
    private static final String CHAT_STREAM =
            "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    private static final String HEAD =
            "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[";

    private final BlockingQueue<UsageRecord> records = new LinkedBlockingQueue<>();
    private StubUpstream upstream;
    private TomcatProxy proxy;

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

    static Stream<Arguments> clients() {
        return Stream.of(
                Arguments.of("jetty", false),
                Arguments.of("jetty", true),
                Arguments.of("jdk", false),
                Arguments.of("jdk", true));
    }

    private void start(String client, boolean counting, StubUpstream.Handler handler) {
        upstream = StubUpstream.start(handler);
        Map<String, String> s = new HashMap<>();
        s.put("api-key", "sk-server-key-123456");
        s.put("base-url", upstream.baseUrl().toString());
        s.put("upstream-client", client);
        ProxyEngine.Builder engine = ProxyEngine.builder(ProxySettings.from(s).toConfig());
        if (counting) {
            engine.usageLedger(records::add);
        }
        proxy = TomcatProxy.servlet(engine.build());
    }

    private HttpResponse<byte[]> post(String path, String body, String... headers) {
        return Http.send(
                Http.headers(
                                Http.request(proxy.uri(path))
                                        .header("Content-Type", "application/json")
                                        .POST(HttpRequest.BodyPublishers.ofString(body)),
                                headers)
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    private UsageRecord record() throws InterruptedException {
        UsageRecord r = records.poll(10, TimeUnit.SECONDS);
        assertThat(r).as("a usage record").isNotNull();
        return r;
    }

    /**
     * A stream as a compatible server may send it; {@code %U} is where a chunk carries {@code "usage":null} when the
     * usage was asked for, and {@code %CHUNK} where the usage chunk goes then.
     */
    private static final String QUIRKY = ": OPENROUTER PROCESSING\n\n"
            + ": keep-alive\r\n\r\n"
            + "event: message\r\nid: 1\r\nretry: 3000\r\ndata:" + HEAD
            + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\u65e5\u672c\ud83d\ude00\"}}]%U}\r\n\r\n"
            + "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\" caf\u00e9\"}}]%U}\r\r"
            + "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"!\"}}]%U}\n\r\n"
            + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\n"
            + "data: \"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"?\"}}]}\n\n"
            + "data:\n\n"
            + ": keep-alive\n\n"
            + "data: " + HEAD + "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]%U}\r\n\r\n"
            + "%CHUNK"
            + "data: [DONE]";

    private static final String USAGE_CHUNK =
            "data: " + HEAD + "],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\r\n\r\n";

    /**
     * Where an upstream body is cut in two: inside each multi-byte character, after each CR (its LF may be in the
     * next read), before each LF, and every 16th byte besides. The framer is tested at every position in process
     * (core's {@code EventFramerTest}); over HTTP, these are the cuts where a relay could go wrong, at a tenth of the
     * requests.
     */
    private static int[] splits(byte[] body) {
        return java.util.stream.IntStream.range(1, body.length)
                .filter(i -> i % 16 == 0 || (body[i] & 0xC0) == 0x80 || body[i - 1] == '\r' || body[i] == '\n')
                .toArray();
    }

    private static byte[] sent(String template, boolean injected) {
        return template.replace("%U", injected ? ",\"usage\":null" : "")
                .replace("%CHUNK", injected ? USAGE_CHUNK : "")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** What the client gets: the stream as sent, but for the comments before its first event (held back). */
    private static byte[] expected(String template) {
        return afterLeadingComments(new String(sent(template, false), StandardCharsets.UTF_8))
                .getBytes(StandardCharsets.UTF_8);
    }

    /** {@code stream} from its first event on: the comment blocks before it are never relayed. */
    private static String afterLeadingComments(String stream) {
        String rest = stream;
        while (rest.startsWith(":")) {
            java.util.regex.Matcher end = java.util.regex.Pattern.compile("\\r\\n\\r\\n|\\n\\n|\\r\\r")
                    .matcher(rest);
            if (!end.find()) {
                return "";
            }
            rest = rest.substring(end.end());
        }
        return rest;
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void aQuirkyStreamSplitAnywhereReachesTheClientAsTheUpstreamSentIt(String client, boolean counting)
            throws Exception {
        byte[] whole = sent(QUIRKY, counting);
        java.util.concurrent.atomic.AtomicInteger split = new java.util.concurrent.atomic.AtomicInteger();
        start(client, counting, ex -> {
            byte[] body = sent(QUIRKY, ex.request().bodyText().contains("include_usage"));
            int at = Math.min(split.get(), body.length - 1);
            ex.head(200, "Content-Type", "text/event-stream; charset=utf-8");
            ex.chunk(java.util.Arrays.copyOfRange(body, 0, at));
            Thread.sleep(1);
            ex.chunk(java.util.Arrays.copyOfRange(body, at, body.length));
            ex.endChunks();
        });
        for (int at : splits(whole)) {
            split.set(at);
            // The pass-through route and the simple one (POST /) in turn.
            HttpResponse<byte[]> r = post(at % 2 == 0 ? "/v1/chat/completions" : "/", CHAT_STREAM);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(new String(r.body(), StandardCharsets.UTF_8))
                    .as("split at %d", at)
                    .isEqualTo(new String(expected(QUIRKY), StandardCharsets.UTF_8));
            if (counting) {
                UsageRecord u = record();
                assertThat(u.usage().inputTokens()).isEqualTo(9);
                assertThat(u.usage().outputTokens()).isEqualTo(4);
                assertThat(u.estimated()).isFalse();
            }
        }
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void aGzippedStreamReachesTheClientReadable(String client, boolean counting) throws Exception {
        start(client, counting, ex -> {
            byte[] body = gzip(sent(QUIRKY, ex.request().bodyText().contains("include_usage")));
            ex.head(200, "Content-Type", "text/event-stream", "Content-Encoding", "gzip");
            ex.chunk(body);
            ex.endChunks();
        });
        HttpResponse<byte[]> r = post("/v1/chat/completions", CHAT_STREAM);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-encoding")).isEmpty();
        byte[] body = r.body();
        assertThat(new String(body, StandardCharsets.UTF_8))
                .isEqualTo(new String(expected(QUIRKY), StandardCharsets.UTF_8));
        if (counting) {
            UsageRecord u = record();
            assertThat(u.usage().inputTokens()).isEqualTo(9);
            assertThat(u.estimated()).isFalse();
        }
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void aGzippedJsonAnswerIsMetered(String client, boolean counting) throws Exception {
        String json = "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}";
        start(client, counting, ex -> ex.chunk(respondGzip(ex, json)));
        HttpResponse<byte[]> r = post(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "Accept-Encoding",
                "gzip");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-encoding")).isEmpty();
        byte[] body = r.body();
        assertThat(new String(body, StandardCharsets.UTF_8)).isEqualTo(json);
        if (counting) {
            UsageRecord u = record();
            assertThat(u.usage().inputTokens()).isEqualTo(9);
            assertThat(u.estimated()).isFalse();
        }
    }

    /** A Responses API stream with a compatible server's framing: CRLF, a comment first, a field it adds. */
    private static final String RESPONSES = ": keep-alive\r\n\r\n"
            + "event: response.created\r\nid: 0\r\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
            + "\"response\":{\"id\":\"resp_1\",\"model\":\"m\",\"status\":\"in_progress\",\"usage\":null}}\r\n\r\n"
            + "event: response.output_text.delta\r\ndata:{\"type\":\"response.output_text.delta\",\"sequence_number\":1,"
            + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"\u00e9\ud83d\ude00\u4e2d\"}\r\r"
            + "event: response.completed\r\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,"
            + "\"response\":{\"id\":\"resp_1\",\"model\":\"m\",\"status\":\"completed\",\"usage\":{\"input_tokens\":7,"
            + "\"input_tokens_details\":null,\"output_tokens\":3,\"total_tokens\":10}}}\r\n";

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void aResponsesStreamSplitAnywhereReachesTheClientAsSentAndIsMetered(String client, boolean counting)
            throws Exception {
        byte[] body = RESPONSES.getBytes(StandardCharsets.UTF_8);
        java.util.concurrent.atomic.AtomicInteger split = new java.util.concurrent.atomic.AtomicInteger();
        start(client, counting, ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(java.util.Arrays.copyOfRange(body, 0, split.get()));
            Thread.sleep(1);
            ex.chunk(java.util.Arrays.copyOfRange(body, split.get(), body.length));
            ex.endChunks();
        });
        for (int at : splits(body)) {
            split.set(at);
            HttpResponse<byte[]> r =
                    post("/v1/responses", "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\",\"stream\":true}");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(new String(r.body(), StandardCharsets.UTF_8))
                    .as("split at %d", at)
                    .isEqualTo(afterLeadingComments(RESPONSES));
            if (counting) {
                UsageRecord u = record();
                assertThat(u.usage().inputTokens()).isEqualTo(7);
                assertThat(u.usage().outputTokens()).isEqualTo(3);
                assertThat(u.estimated()).isFalse();
            }
        }
    }

    private static String chunk(String choice, String rest) {
        return "data: " + HEAD + choice + "]" + rest + "}\n\n";
    }

    private static String chunkWithout(String choices) {
        return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\"," + choices + USAGE + "}\n\n";
    }

    private static final String HI = chunk("{\"index\":0,\"delta\":{\"content\":\"Hi there\"}}", "");
    private static final String STOP = chunk("{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", "");
    private static final String USAGE = "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}";

    static Stream<Arguments> usageShapes() {
        String done = "data: [DONE]\n\n";
        String lastWithUsage = chunk("{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", "," + USAGE);
        String oddUsage = chunk(
                "",
                ",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13,"
                        + "\"completion_tokens_details\":null,\"queue_time\":0.01,\"x\":{\"usage\":[1]}}");
        String error = "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"code\":null}}\n\n";
        return Stream.of(
                // llama.cpp, Mistral: the usage rides on the last content chunk; the proxy cannot tell it asked for it.
                Arguments.of(
                        "usage in the last content chunk",
                        HI + lastWithUsage + done,
                        HI + lastWithUsage + done,
                        9,
                        false,
                        UsageRecord.Outcome.COMPLETED),
                Arguments.of(
                        "details null or absent, members unknown",
                        HI + STOP + oddUsage + done,
                        HI + STOP + done,
                        9,
                        false,
                        UsageRecord.Outcome.COMPLETED),
                // A usage chunk with its choices null, or none at all: openai-java fails on a chunk without choices,
                // so one the client did not ask for must not reach it.
                Arguments.of(
                        "usage chunk with choices null",
                        HI + STOP + chunkWithout("\"choices\":null,") + done,
                        HI + STOP + done,
                        9,
                        false,
                        UsageRecord.Outcome.COMPLETED),
                Arguments.of(
                        "usage chunk without choices",
                        HI + STOP + chunkWithout("") + done,
                        HI + STOP + done,
                        9,
                        false,
                        UsageRecord.Outcome.COMPLETED),
                Arguments.of(
                        "usage after [DONE]",
                        HI + STOP + done + chunk("", "," + USAGE),
                        HI + STOP + done,
                        9,
                        false,
                        UsageRecord.Outcome.COMPLETED),
                Arguments.of(
                        "no usage although asked",
                        HI + STOP + done,
                        HI + STOP + done,
                        0,
                        true,
                        UsageRecord.Outcome.COMPLETED),
                // vLLM and OpenRouter: an error as an event of a 200 stream, then the end.
                Arguments.of(
                        "an error event mid-stream",
                        HI + error,
                        HI + error,
                        0,
                        true,
                        UsageRecord.Outcome.UPSTREAM_FAILED));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("usageShapes")
    void aCompatibleServersUsageIsReadAndOnlyWhatTheProxyAddedIsTakenOut(
            String shape, String sent, String expected, long input, boolean estimated, UsageRecord.Outcome outcome)
            throws Exception {
        start("jetty", true, ex -> {
            assertThat(ex.request().bodyText()).contains("\"include_usage\":true");
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(sent);
            ex.endChunks();
        });

        HttpResponse<byte[]> r = post("/v1/chat/completions", CHAT_STREAM);

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(expected);
        UsageRecord u = record();
        if (estimated) {
            // The ledger alone counts no input before the call: the estimate counts the prompt once it is relayed.
            assertThat(u.usage().inputTokens()).isPositive();
        } else {
            assertThat(u.usage().inputTokens()).isEqualTo(input);
        }
        assertThat(u.usage().outputTokens()).isPositive();
        assertThat(u.estimated()).isEqualTo(estimated);
        assertThat(u.outcome()).isEqualTo(outcome);
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void aServerThatIgnoresStreamAndAnswersJsonIsRelayedOnV1AndRefusedOnTheSimpleRoute(String client, boolean counting)
            throws Exception {
        String json = "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}]," + USAGE + "}";
        start(client, counting, ex -> ex.respond(200, "application/json", json.getBytes(StandardCharsets.UTF_8)));

        HttpResponse<byte[]> v1 = post("/v1/chat/completions", CHAT_STREAM);
        assertThat(v1.statusCode()).isEqualTo(200);
        assertThat(new String(v1.body(), StandardCharsets.UTF_8)).isEqualTo(json);
        if (counting) {
            assertThat(record().usage().inputTokens()).isEqualTo(9);
        }
        HttpResponse<byte[]> simple = post("/", CHAT_STREAM);
        assertThat(simple.statusCode()).isEqualTo(502);
        assertThat(new String(simple.body(), StandardCharsets.UTF_8)).contains("unexpected content type");
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void anEventStreamAnsweringAPlainRequestIsRelayedAsSent(String client, boolean counting) throws Exception {
        String events = HI + STOP + chunk("", "," + USAGE) + "data: [DONE]\n\n";
        start(client, counting, ex -> {
            ex.head(200, "Content-Type", "text/event-stream");
            ex.chunk(events);
            ex.endChunks();
        });

        HttpResponse<byte[]> r = post(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("text/event-stream");
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(events);
        if (counting) {
            assertThat(record().usage().inputTokens()).isEqualTo(9);
        }
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void anAnswerFramedByBothChunksAndALengthIsABadGatewayAndItsConnectionIsNotReused(String client, boolean counting)
            throws Exception {
        // RFC 9112 6.3: a sign of response splitting, to be handled as an error and the connection closed. Read by its
        // Content-Length (as the JDK's client did), the client got "5b\r\n{" as a 200, and the rest of the body
        // stayed on a kept-alive connection for the next call to read as its answer.
        String json = "{\"id\":\"c\",\"choices\":[]," + USAGE + "}";
        java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
        start(client, counting, ex -> {
            ex.chunk(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                            + "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(json.length()) + "\r\n" + json
                            + "\r\n0\r\n\r\n")
                    .getBytes(StandardCharsets.UTF_8));
            closed.set(ex.awaitPeerClosed(Duration.ofSeconds(10)));
        });

        HttpResponse<byte[]> r = post(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(502);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("upstream_unreachable");
        assertThat(upstream.awaitExchange(Duration.ofSeconds(5)).awaitHandlerDone(Duration.ofSeconds(15)))
                .isTrue();
        assertThat(closed).as("the proxy closed the connection").isTrue();
    }

    @ParameterizedTest(name = "{0}, counting {1}")
    @MethodSource("clients")
    void aGzippedAnswerLongerThanTheWholeReadKeepsNoneOfTheCompressedLength(String client, boolean counting)
            throws Exception {
        // Past 256 KiB decoded the answer streams: the upstream's Content-Length is the compressed one, not the
        // client's.
        String json = "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "ab".repeat(300 * 1024)
                + "\"},\"finish_reason\":\"stop\"}]," + USAGE + "}";
        start(client, counting, ex -> ex.chunk(respondGzip(ex, json)));

        HttpResponse<byte[]> r = post(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-encoding")).isEmpty();
        assertThat(r.headers().firstValue("content-length"))
                .satisfiesAnyOf(
                        length -> assertThat(length).isEmpty(),
                        length -> assertThat(length).hasValue(Integer.toString(json.length())));
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(json);
        if (counting) {
            assertThat(record().usage().inputTokens()).isEqualTo(9);
        }
    }

    private static byte[] respondGzip(StubUpstream.Exchange ex, String json) throws IOException {
        byte[] body = gzip(json.getBytes(StandardCharsets.UTF_8));
        ex.head(
                200,
                "Content-Type",
                "application/json",
                "Content-Encoding",
                "gzip",
                "Content-Length",
                Integer.toString(body.length));
        return body;
    }

    static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(bytes);
        }
        return out.toByteArray();
    }
}
