package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.internal.Bodies;
import io.github.openaiproxy.core.internal.BodyCollector;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.core.testing.SeededCases;
import io.github.openaiproxy.core.upstream.UpstreamClient;
import io.github.openaiproxy.core.upstream.UpstreamRequest;
import io.github.openaiproxy.core.upstream.UpstreamResponse;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzing of request JSON under a policy with a model rule and caps: random documents around the fields the
 * proxy reads ({@code model}, {@code stream}, {@code messages}, {@code max_tokens}, {@code max_completion_tokens},
 * {@code n}, {@code tools}), with duplicate keys, escaped keys, deep nesting, huge numbers, a byte order mark and
 * trailing bytes. The proxy must answer a 4xx in OpenAI's error shape (and call nothing), or send on a body that,
 * read as OpenAI's server reads it (a later duplicate wins), keeps to the policy, byte for byte as it came unless a
 * cap lowered or added a value. Never a 5xx. {@code -Dfuzz.seed=...} replays a run, {@code -Dfuzz.cases=...} runs
 * more.
 */
class RequestJsonFuzzTest {
    private static final int CASES = 200;
    private static final Set<String> ALLOWED = Set.of("gpt-4o-mini", "gpt-4o");
    private static final int MAX_TOKENS = 100;
    private static final int MAX_N = 2;

    /** How the upstream reads a body: Python's json, where a later duplicate key wins. */
    private static final ObjectMapper LAST_WINS = JsonMapper.builder()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    static {
        LAST_WINS
                .getFactory()
                .setStreamReadConstraints(StreamReadConstraints.builder()
                        .maxNestingDepth(100_000)
                        .maxNumberLength(100_000)
                        .build());
    }

    private static final Recording upstream = new Recording();
    private static ProxyEngine engine;

    @BeforeAll
    static void start() {
        engine = ProxyEngine.builder(ProxySettings.from(Map.of(
                                "policies.anonymous.models", String.join(", ", ALLOWED),
                                "policies.anonymous.max-tokens", Integer.toString(MAX_TOKENS),
                                "policies.anonymous.max-n", Integer.toString(MAX_N)))
                        .applyTo(EngineFixture.config(URI.create("http://127.0.0.1:9")))
                        .build())
                .upstreamClient(upstream)
                .build();
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    @Test
    void bodiesAreRefusedInOpenAisShapeOrSentOnKeepingToThePolicy() {
        SeededCases.run("request JSON fuzz", CASES, RequestJsonFuzzTest::oneCase);
    }

    static void oneCase(long seed) {
        Random r = new Random(seed);
        byte[] body = document(r);
        String path = r.nextInt(4) == 0 ? "/" : "/v1/chat/completions";
        upstream.sent.clear();
        Answer a = EngineFixture.send(
                engine,
                ProxyRequest.builder("POST", path)
                        .header("Content-Type", "application/json")
                        .body(body));
        String context = path + " " + new String(body, StandardCharsets.UTF_8);
        if (context.length() > 2000) {
            context = context.substring(0, 2000) + "...";
        }
        assertThat(a.status()).as("status of %s; %s", a.text(), context).isLessThan(500);
        if (a.status() != 200) {
            assertThat(a.status()).as(context).isBetween(400, 499);
            if (path.equals("/")) {
                // The simple routes answer in the seed's documented shape: {"error":"...","message":"..."}.
                assertThat(a.json().path("error").isTextual()
                                && a.json().path("message").isTextual())
                        .as("%s; %s", a.text(), context)
                        .isTrue();
            } else {
                JsonNode error = a.json().path("error");
                assertThat(error.path("message").isTextual())
                        .as("%s; %s", a.text(), context)
                        .isTrue();
                assertThat(error.path("type").isTextual()).as(a.text()).isTrue();
                assertThat(error.has("param") && error.has("code")).as(a.text()).isTrue();
            }
            assertThat(upstream.sent).as("nothing sent on; %s", context).isEmpty();
            return;
        }
        assertThat(upstream.sent).as(context).hasSize(1);
        byte[] sent = upstream.sent.get(0);
        JsonNode read;
        try {
            read = LAST_WINS.readTree(sent);
        } catch (IOException e) {
            throw new AssertionError("sent on what the upstream cannot read: " + context, e);
        }
        assertThat(read.path("model").isTextual()
                        && ALLOWED.contains(read.path("model").textValue()))
                .as("the model the upstream reads; %s", context)
                .isTrue();
        for (String field : List.of("max_tokens", "max_completion_tokens", "n")) {
            JsonNode v = read.get(field);
            if (v == null || v.isNull()) {
                continue;
            }
            int cap = field.equals("n") ? MAX_N : MAX_TOKENS;
            assertThat(v.isNumber())
                    .as("%s the upstream reads; %s", field, context)
                    .isTrue();
            assertThat(!over(v, cap))
                    .as("%s %s the upstream reads; %s", field, v, context)
                    .isTrue();
        }
        if (path.startsWith("/v1/") && !capped(body)) {
            assertThat(new String(sent, StandardCharsets.UTF_8))
                    .as("sent as it came")
                    .isEqualTo(new String(body, StandardCharsets.UTF_8));
        }
    }

    /** Whether the policy lowers or adds a value in a body as the upstream would read it. */
    private static boolean capped(byte[] body) {
        try {
            JsonNode j = LAST_WINS.readTree(body);
            boolean tokens = false;
            for (String f : List.of("max_tokens", "max_completion_tokens", "n")) {
                JsonNode v = j.get(f);
                if (v != null && !v.isNull()) {
                    tokens |= !f.equals("n");
                    if (over(v, f.equals("n") ? MAX_N : MAX_TOKENS)) {
                        return true;
                    }
                }
            }
            return !tokens;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    /** Whether a number is over a cap as Python reads it: an integer exactly, a fraction as a double. */
    private static boolean over(JsonNode v, int cap) {
        return v.isIntegralNumber()
                ? v.bigIntegerValue().compareTo(java.math.BigInteger.valueOf(cap)) > 0
                : !v.isNumber() || v.doubleValue() > cap || Double.isNaN(v.doubleValue());
    }

    /** A random JSON text (mostly valid) around the fields the proxy reads. */
    static byte[] document(Random r) {
        StringBuilder b = new StringBuilder();
        if (r.nextInt(10) == 0) {
            b.append('\uFEFF');
        }
        b.append(ws(r)).append('{');
        List<String> members = new ArrayList<>();
        members.add(member(r, "model", model(r)));
        members.add(member(r, "messages", "[{\"role\":\"user\",\"content\":" + string(r) + "}]"));
        String[] optional = {"stream", "max_tokens", "max_completion_tokens", "n", "tools", "metadata", "temperature"};
        for (String f : optional) {
            if (r.nextInt(3) == 0) {
                members.add(member(r, f, value(r, f)));
            }
        }
        if (r.nextInt(3) == 0) {
            // A duplicate of a field the proxy judges, anywhere among the members.
            String f =
                    List.of("model", "max_tokens", "max_completion_tokens", "n").get(r.nextInt(4));
            members.add(r.nextInt(members.size() + 1), member(r, f, f.equals("model") ? model(r) : value(r, f)));
        }
        java.util.Collections.shuffle(members, r);
        for (int i = 0; i < members.size(); i++) {
            b.append(i == 0 ? "" : ",").append(ws(r)).append(members.get(i)).append(ws(r));
        }
        b.append('}').append(ws(r));
        if (r.nextInt(12) == 0) {
            b.append(List.of("}", "x", "{}", "\u0000", ",").get(r.nextInt(5)));
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static String member(Random r, String key, String value) {
        return key(r, key) + ws(r) + ":" + ws(r) + value;
    }

    /** A key as written, its characters sometimes escaped ({@code "\u006dodel"}). */
    private static String key(Random r, String key) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : key.toCharArray()) {
            b.append(r.nextInt(8) == 0 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return b.append('"').toString();
    }

    private static String model(Random r) {
        String[] models = {"gpt-4o-mini", "gpt-4o", "o3", "gpt-4o-mini ", "GPT-4O", "", "gpt-4o\u0000"};
        return switch (r.nextInt(10)) {
            case 0 -> "null";
            case 1 -> "[\"gpt-4o-mini\"]";
            case 2 -> "5";
            default -> key(r, models[r.nextInt(models.length)]).replace("\u0000", "\\u0000");
        };
    }

    private static String value(Random r, String field) {
        return switch (field) {
            case "stream" -> List.of("true", "false", "null", "\"true\"").get(r.nextInt(4));
            case "tools" -> "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":" + nested(r) + "}}]";
            case "metadata" -> nested(r);
            case "temperature" -> number(r);
            default -> number(r);
        };
    }

    private static String number(Random r) {
        return switch (r.nextInt(16)) {
            case 0 -> "1" + "0".repeat(r.nextInt(40)); // up to 10^39
            case 1 -> "1e" + r.nextInt(500);
            case 2 -> "-" + r.nextInt(1000);
            case 3 -> "100.5";
            case 4 -> "1E2";
            case 5 -> "100.0000000000000000001";
            case 6 -> "\"" + r.nextInt(1000) + "\"";
            case 7 -> "null";
            case 8 -> "-0";
            case 9 -> "18446744073709551617"; // 2^64 + 1: 1 as a long
            case 10 -> "NaN";
            case 11 -> "9".repeat(1 + r.nextInt(1200));
            default -> Integer.toString(r.nextInt(300));
        };
    }

    /** Nested arrays and objects, now and then deeper than parsers allow. */
    private static String nested(Random r) {
        int depth = r.nextInt(8) == 0 ? 900 + r.nextInt(300) : r.nextInt(20);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < depth; i++) {
            b.append(i % 2 == 0 ? "{\"a\":" : "[");
        }
        b.append("1");
        for (int i = depth - 1; i >= 0; i--) {
            b.append(i % 2 == 0 ? "}" : "]");
        }
        return b.toString();
    }

    /** A JSON string with escapes, non-ASCII and surrogate pairs, written raw or escaped. */
    private static String string(Random r) {
        String[] pieces = {"hi", "\\n", "\\\"", "\\u00e9", "é", "😀", "\\ud83d\\ude00", "\\u2028", " "};
        StringBuilder b = new StringBuilder("\"");
        int n = r.nextInt(6);
        for (int i = 0; i < n; i++) {
            b.append(pieces[r.nextInt(pieces.length)]);
        }
        return b.append('"').toString();
    }

    private static String ws(Random r) {
        return r.nextInt(4) == 0 ? List.of(" ", "\n", "\t", "\r\n  ").get(r.nextInt(4)) : "";
    }

    /** The upstream: keeps every body sent and answers 200 with a chat completion. */
    private static final class Recording implements UpstreamClient {
        final List<byte[]> sent = new CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
            CompletableFuture<byte[]> body = request.streamedBody() == null
                    ? CompletableFuture.completedFuture(request.body())
                    : BodyCollector.collect(request.streamedBody().publisher(), Long.MAX_VALUE);
            return body.thenApply(b -> {
                sent.add(b);
                if (streams(b)) {
                    return new UpstreamResponse(
                            200,
                            new HeaderMap()
                                    .set("Content-Type", "text/event-stream")
                                    .build(),
                            Bodies.responseOf(
                                    "data: {\"choices\":[]}\n\ndata: [DONE]\n\n".getBytes(StandardCharsets.UTF_8)));
                }
                return new UpstreamResponse(
                        200,
                        new HeaderMap().set("Content-Type", "application/json").build(),
                        Bodies.responseOf(EngineFixture.CHAT_COMPLETION.getBytes(StandardCharsets.UTF_8)));
            });
        }

        /** Whether the upstream would stream its answer: a {@code stream} it reads as true. */
        private static boolean streams(byte[] body) {
            try {
                JsonNode stream = LAST_WINS.readTree(body).path("stream");
                return stream.asBoolean(false) || stream.asText().equals("true");
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }

        @Override
        public UpstreamClient withTimeouts(Duration connect, Duration response) {
            return this;
        }

        @Override
        public void close() {}
    }
}
