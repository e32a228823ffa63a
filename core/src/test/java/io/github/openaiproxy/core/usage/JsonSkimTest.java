package io.github.openaiproxy.core.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNoException;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.internal.Json;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The skim against a full parse of the same answer: random JSON (nested objects and arrays, strings with
 * escapes, quotes and brackets, look-alike keys at every depth), fed in random pieces, heap and direct. Whatever
 * the scanner skips, it must read exactly what Jackson's tree reads at the top level.
 */
class JsonSkimTest {
    private static final String[] KEYS = {
        "usage",
        "model",
        "data",
        "b64_json",
        "url",
        "id",
        "choices",
        "message",
        "content",
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "prompt_tokens_details",
        "cached_tokens",
        "total_tokens",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
        "reasoning_tokens",
        "a\\\"b",
        "{",
        "[",
        "",
        "usage_x",
        "xusage",
        "modelmodelmodelmodel"
    };
    private static final String[] STRINGS = {
        "",
        "plain",
        "\\\"usage\\\":{\\\"prompt_tokens\\\":9}",
        "}]{[",
        "\\\\",
        "\\\\\\\"",
        "\\n\\t\\u0041",
        "caf\u00e9 \u2603 \ud83d\ude00",
        "\\\"model\\\":\\\"evil\\\"",
        ",:",
        "\\/"
    };

    @Test
    void readsWhatAFullParseReadsWhereverTheBytesAreCut() throws Exception {
        Random random = new Random(20261206);
        for (int n = 0; n < 3000; n++) {
            String body = answer(random);
            JsonNode tree = Json.parse(body.getBytes(StandardCharsets.UTF_8));
            if (random.nextInt(8) == 0) {
                // More after the one value (JSON lines, a second object): the mapper refuses it, the skim reads
                // nothing.
                body += new String[] {" {}", "\n{\"usage\":{\"prompt_tokens\":1}}", "x", "}", " \"model\""}
                        [random.nextInt(5)];
                tree = Json.object();
            } else if (random.nextInt(16) == 0) {
                body = "[" + body + "]"; // a list, not an answer: nothing in it is read
                tree = Json.parse(body.getBytes(StandardCharsets.UTF_8));
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            int pieces = random.nextInt(4) == 0 ? 1 : 1 + random.nextInt(Math.max(1, bytes.length / 3));
            JsonSkim skim = feed(bytes, pieces, random.nextBoolean(), random);
            String why = body + " in " + pieces + " pieces";
            assertThat(skim.images()).as(why).isEqualTo(images(tree));
            assertThat(skim.model())
                    .as(why)
                    .isEqualTo(
                            tree.path("model").isTextual() ? tree.get("model").textValue() : null);
            JsonNode usage = tree.path("usage");
            assertThat(skim.usage()).as(why).isEqualTo(usage.isObject() ? expectedUsage(usage, images(tree)) : null);
            JsonNode total = usage.path("total_tokens");
            assertThat(skim.reportedTotalTokens())
                    .as(why)
                    .isEqualTo(
                            usage.isObject() && total.isIntegralNumber() && total.canConvertToLong()
                                    ? OptionalLong.of(total.longValue())
                                    : OptionalLong.empty());
        }
    }

    @Test
    void findsAStringsEndWhereverItsQuoteOrEscapeFallsInAWordOfEight() throws Exception {
        for (String filler : new String[] {"x", "\u00e9"}) {
            for (int length = 0; length < 40; length++) {
                for (int at = 0; at <= length; at++) {
                    String text = filler.repeat(at) + "\\\"" + filler.repeat(length - at);
                    String body = "{\"id\":\"" + text + "\",\"model\":\"" + text + "\",\"usage\":{\"prompt_tokens\":"
                            + length + "}}";
                    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                    JsonSkim skim = feed(bytes, 1 + at % 6, at % 2 == 0, new Random(at)); // word reads across cuts too
                    assertThat(skim.model())
                            .as(body)
                            .isEqualTo(Json.parse(bytes).get("model").textValue());
                    assertThat(skim.usage()).as(body).isEqualTo(new TokenUsage(length, 0, 0, 0, 0));
                }
            }
        }
    }

    @Test
    void readsPastNestingDeeperThanItTracks() throws Exception {
        String deep =
                "{\"k\":[".repeat(100) + "{\"usage\":{\"prompt_tokens\":1},\"model\":\"inner\"}" + "]}".repeat(100);
        String body =
                "{\"choices\":" + deep + ",\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
        for (int pieces : new int[] {1, 7, 300}) {
            JsonSkim skim = feed(body.getBytes(StandardCharsets.UTF_8), pieces, false, new Random(pieces));
            assertThat(skim.usage()).isEqualTo(new TokenUsage(3, 0, 4, 0, 0));
            assertThat(skim.model()).isEqualTo("m");
        }
    }

    @Test
    void keepsAUsageOfExactlyTheCaptureLimitAndDropsOneByteMore() {
        String head = "{\"prompt_tokens\":7,\"note\":\"";
        for (int size : new int[] {JsonSkim.MAX_CAPTURE, JsonSkim.MAX_CAPTURE + 1}) {
            String usage = head + "x".repeat(size - head.length() - 2) + "\"}";
            assertThat(usage).hasSize(size);
            byte[] body = ("{\"usage\":" + usage + "}").getBytes(StandardCharsets.UTF_8);
            for (int pieces : new int[] {1, 2, 50}) {
                JsonSkim skim = feed(body, pieces, pieces == 2, new Random(size + pieces));
                assertThat(skim.usage())
                        .as(size + " bytes in " + pieces + " pieces")
                        .isEqualTo(size == JsonSkim.MAX_CAPTURE ? new TokenUsage(7, 0, 0, 0, 0) : null);
            }
        }
    }

    @Test
    void aMemberOfUsageNamedTwiceCountsAsItsLast() {
        String body = "{\"usage\":{\"prompt_tokens\":3,\"prompt_tokens\":300}}";
        assertThat(feed(body.getBytes(StandardCharsets.UTF_8), 1, false, new Random(1))
                        .usage())
                .isEqualTo(new TokenUsage(300, 0, 0, 0, 0));
    }

    @Test
    void anEmptyDirectBufferFirstIsPassedOver() {
        // The first direct buffer sized the copy buffer: an empty one made it 0 bytes and the next feed spun.
        JsonSkim skim = new JsonSkim();
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            skim.feed(ByteBuffer.allocateDirect(0));
            byte[] body = "{\"usage\":{\"prompt_tokens\":2}}".getBytes(StandardCharsets.UTF_8);
            skim.feed(ByteBuffer.allocateDirect(body.length).put(body).flip());
        });
        assertThat(skim.usage()).isEqualTo(new TokenUsage(2, 0, 0, 0, 0));
    }

    @Test
    void neverFailsOnBrokenOrTruncatedBytes() {
        Random random = new Random(7);
        for (int n = 0; n < 2000; n++) {
            byte[] bytes = answer(random).getBytes(StandardCharsets.UTF_8);
            byte[] broken = java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length + 1));
            for (int k = 0; k < 3 && broken.length > 0; k++) {
                String noise = "{}[]\":,\\x";
                broken[random.nextInt(broken.length)] = (byte) noise.charAt(random.nextInt(noise.length()));
            }
            assertThatNoException().isThrownBy(() -> {
                JsonSkim skim = feed(broken, 1 + random.nextInt(5), random.nextBoolean(), random);
                skim.usage();
                skim.model();
                skim.images();
            });
        }
    }

    private static JsonSkim feed(byte[] bytes, int pieces, boolean direct, Random random) {
        JsonSkim skim = new JsonSkim();
        List<Integer> cuts = new ArrayList<>();
        for (int i = 1; i < pieces; i++) {
            cuts.add(random.nextInt(bytes.length + 1));
        }
        cuts.add(0);
        cuts.add(bytes.length);
        cuts.sort(null);
        for (int i = 0; i + 1 < cuts.size(); i++) {
            int from = cuts.get(i);
            int to = cuts.get(i + 1);
            ByteBuffer b;
            if (direct) {
                b = ByteBuffer.allocateDirect(to - from)
                        .put(bytes, from, to - from)
                        .flip();
            } else {
                // A slice of a larger array: the skim must honour the offset and the limit.
                b = ByteBuffer.wrap(bytes, from, to - from).slice();
            }
            skim.feed(b);
        }
        return skim;
    }

    /** The images as the tap defines them, from the tree. */
    private static int images(JsonNode tree) {
        JsonNode data = tree.path("data");
        if (!data.isArray()) {
            return 0;
        }
        int objects = 0;
        boolean image = false;
        for (JsonNode d : data) {
            if (d.isObject()) {
                objects++;
                image |= d.has("b64_json") || d.has("url");
            }
        }
        return image ? objects : 0;
    }

    private static String answer(Random random) {
        StringBuilder out = new StringBuilder();
        space(out, random);
        object(out, random, 1, true);
        space(out, random);
        return out.toString();
    }

    private static void value(StringBuilder out, Random random, int depth) {
        int kind = random.nextInt(depth > 5 ? 4 : 7);
        switch (kind) {
            case 0 ->
                out.append('"').append(STRINGS[random.nextInt(STRINGS.length)]).append('"');
            case 1 -> out.append(random.nextInt(3) == 0 ? "-" : "").append(random.nextInt(100_000));
            case 2 ->
                out.append(
                        new String[] {"true", "false", "null", "1.5e3", "99999999999999999999999"}[random.nextInt(5)]);
            case 3 -> out.append("{}");
            case 4, 5 -> object(out, random, depth + 1, false);
            default -> array(out, random, depth + 1);
        }
    }

    private static void object(StringBuilder out, Random random, int depth, boolean top) {
        out.append('{');
        Set<String> used = new HashSet<>();
        int members = random.nextInt(top ? 8 : 5);
        for (int m = 0; m < members; m++) {
            String key = KEYS[random.nextInt(KEYS.length)];
            if (!used.add(key)) {
                continue;
            }
            if (used.size() > 1) {
                out.append(',');
            }
            space(out, random);
            out.append('"').append(key).append('"');
            space(out, random);
            out.append(':');
            space(out, random);
            if (top && key.equals("usage") && random.nextBoolean()) {
                usage(out, random);
            } else if (top && key.equals("data") && random.nextBoolean()) {
                images(out, random, depth);
            } else {
                value(out, random, depth);
            }
            space(out, random);
        }
        out.append('}');
    }

    private static void array(StringBuilder out, Random random, int depth) {
        out.append('[');
        int items = random.nextInt(4);
        for (int i = 0; i < items; i++) {
            if (i > 0) {
                out.append(',');
            }
            space(out, random);
            value(out, random, depth);
            space(out, random);
        }
        out.append(']');
    }

    private static void usage(StringBuilder out, Random random) {
        out.append("{\"prompt_tokens\":").append(random.nextInt(1000));
        out.append(",\"completion_tokens\":").append(random.nextInt(1000));
        if (random.nextBoolean()) {
            out.append(",\"total_tokens\":").append(odd(random, Integer.toString(random.nextInt(2000))));
        }
        if (random.nextBoolean()) {
            out.append(",\"prompt_tokens_details\":")
                    .append(odd(random, "{\"cached_tokens\":" + random.nextInt(1000) + "}"));
        }
        if (random.nextInt(4) == 0) {
            out.append(",\"input_tokens_details\":")
                    .append(odd(random, "{\"cached_tokens\":" + random.nextInt(99) + "}"));
        }
        if (random.nextInt(4) == 0) {
            out.append(",\"output_tokens\":").append(odd(random, Integer.toString(random.nextInt(99))));
        }
        if (random.nextBoolean()) {
            out.append(",\"completion_tokens_details\":{\"reasoning_tokens\":")
                    .append(random.nextInt(1000))
                    .append(",\"x\":[1,{\"y\":\"}\"}]}");
        }
        out.append('}');
    }

    /** {@code usual}, or now and then what an upstream should not send in its place. */
    private static String odd(Random random, String usual) {
        String[] odd = {
            "-1",
            "\"12\"",
            "[5]",
            "{\"prompt_tokens\":999,\"cached_tokens\":7}",
            "1.5",
            "null",
            "99999999999999999999",
            "{\"cached_tokens\":{\"prompt_tokens\":5}}"
        };
        return random.nextBoolean() ? usual : odd[random.nextInt(odd.length)];
    }

    /**
     * The usage the tap must read, worked out from the tree on its own (not through {@link UsageNumbers}, the code
     * under test): each API's names, a missing or odd number as 0, cached and reasoning at most their totals.
     */
    private static TokenUsage expectedUsage(JsonNode usage, int images) {
        long in = usage.has("prompt_tokens") ? number(usage.get("prompt_tokens")) : number(usage.path("input_tokens"));
        long out = usage.has("completion_tokens")
                ? number(usage.get("completion_tokens"))
                : number(usage.path("output_tokens"));
        long cached = Math.max(
                number(usage.path("prompt_tokens_details").path("cached_tokens")),
                number(usage.path("input_tokens_details").path("cached_tokens")));
        long reasoning = Math.max(
                number(usage.path("completion_tokens_details").path("reasoning_tokens")),
                number(usage.path("output_tokens_details").path("reasoning_tokens")));
        return new TokenUsage(in, Math.min(cached, in), out, Math.min(reasoning, out), images);
    }

    private static long number(JsonNode n) {
        return n.isIntegralNumber() && n.canConvertToLong() ? Math.max(0, n.longValue()) : 0;
    }

    private static void images(StringBuilder out, Random random, int depth) {
        out.append('[');
        int items = random.nextInt(4);
        for (int i = 0; i < items; i++) {
            if (i > 0) {
                out.append(',');
            }
            if (random.nextInt(3) == 0) {
                value(out, random, depth + 1);
            } else {
                out.append(random.nextBoolean() ? "{\"b64_json\":\"QUJD\\/\"" : "{\"url\":\"https://i/1.png\"");
                out.append(",\"revised_prompt\":\"a \\\"cat\\\" {\"}");
            }
        }
        out.append(']');
    }

    private static void space(StringBuilder out, Random random) {
        if (random.nextInt(4) == 0) {
            out.append(" \n\t\r".charAt(random.nextInt(4)));
        }
    }
}
