package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.function.LongConsumer;

/**
 * Reads a {@code usage} object of any of OpenAI's APIs into a {@link TokenUsage}, and finds one in raw bytes: the
 * one reading of usage that the usage tap and the metrics observer share.
 */
@io.github.openaiproxy.core.internal.Internal
public final class UsageNumbers {
    private static final byte[] USAGE = "\"usage\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private UsageNumbers() {}

    /**
     * The numbers of a {@code usage} object: chat and completions ({@code prompt_tokens},
     * {@code completion_tokens}, {@code prompt_tokens_details.cached_tokens},
     * {@code completion_tokens_details.reasoning_tokens}, and both details' {@code audio_tokens}), the Responses API and images ({@code input_tokens},
     * {@code output_tokens}, {@code input_tokens_details.cached_tokens},
     * {@code output_tokens_details.reasoning_tokens}), embeddings ({@code prompt_tokens}). A missing, negative
     * or non-integral number reads as 0.
     */
    public static TokenUsage read(JsonNode usage, int images) {
        try (JsonParser p = usage.traverse()) {
            return p.nextToken() == JsonToken.START_OBJECT ? read(p, images) : new TokenUsage(0, 0, 0, 0, images);
        } catch (IOException e) {
            return new TokenUsage(0, 0, 0, 0, images); // a tree is read without I/O: not reached
        }
    }

    /**
     * As {@link #read(JsonNode, int)}, from a parser on the {@code usage} object's start: reads the object
     * (and no more) without building a tree, for the usage tap's one read per answer. A member named twice
     * counts as the parser's tree would take it: the last one.
     */
    public static TokenUsage read(JsonParser p, int images) throws IOException {
        return read(p, images, total -> {});
    }

    /**
     * As {@link #read(JsonParser, int)}, also handing {@code total} the object's {@code total_tokens} when it is a
     * whole number that fits a long (what the upstream reported, which observers pass on as it is).
     */
    public static TokenUsage read(JsonParser p, int images, LongConsumer total) throws IOException {
        long prompt = -1; // -1: not there, so the other API's name is taken
        long input = 0;
        long completion = -1;
        long output = 0;
        long cached = 0;
        long cachedOther = 0;
        long reasoning = 0;
        long reasoningOther = 0;
        long[] promptDetails = {0, 0};
        long[] completionDetails = {0, 0};
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            JsonToken value = p.nextToken();
            switch (name) {
                case "prompt_tokens" -> prompt = number(p, value);
                case "input_tokens" -> input = number(p, value);
                case "completion_tokens" -> completion = number(p, value);
                case "output_tokens" -> output = number(p, value);
                case "prompt_tokens_details" -> {
                    promptDetails = details(p, value, "cached_tokens", "audio_tokens");
                    cached = promptDetails[0];
                }
                case "input_tokens_details" -> cachedOther = detail(p, value, "cached_tokens");
                case "completion_tokens_details" -> {
                    completionDetails = details(p, value, "reasoning_tokens", "audio_tokens");
                    reasoning = completionDetails[0];
                }
                case "output_tokens_details" -> reasoningOther = detail(p, value, "reasoning_tokens");
                case "total_tokens" -> {
                    if (value == JsonToken.VALUE_NUMBER_INT && fitsLong(p)) {
                        total.accept(p.getLongValue());
                    } else {
                        p.skipChildren(); // an object or array here must not be read as usage's own members
                    }
                }
                default -> p.skipChildren();
            }
        }
        long in = prompt >= 0 ? prompt : input;
        long out = completion >= 0 ? completion : output;
        return new TokenUsage(
                in,
                Math.min(Math.max(cached, cachedOther), in),
                out,
                Math.min(Math.max(reasoning, reasoningOther), out),
                images,
                Math.min(promptDetails[1], in),
                Math.min(completionDetails[1], out));
    }

    /** The numbers {@code first} and {@code second} of the object the parser is on; 0 for each it lacks. */
    private static long[] details(JsonParser p, JsonToken value, String first, String second) throws IOException {
        long[] n = {0, 0};
        if (value != JsonToken.START_OBJECT) {
            p.skipChildren();
            return n;
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken v = p.nextToken();
            if (field.equals(first)) {
                n[0] = number(p, v);
            } else if (field.equals(second)) {
                n[1] = number(p, v);
            } else {
                p.skipChildren();
            }
        }
        return n;
    }

    /** The number {@code name} of the object the parser is on; 0 when it is not an object or has none. */
    private static long detail(JsonParser p, JsonToken value, String name) throws IOException {
        if (value != JsonToken.START_OBJECT) {
            p.skipChildren();
            return 0;
        }
        long n = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken v = p.nextToken();
            if (field.equals(name)) {
                n = number(p, v);
            } else {
                p.skipChildren();
            }
        }
        return n;
    }

    /** A whole number that fits a long, 0 when negative; 0 for anything else (a fraction, a string, null). */
    private static long number(JsonParser p, JsonToken value) throws IOException {
        if (value != JsonToken.VALUE_NUMBER_INT) {
            p.skipChildren();
            return 0;
        }
        return fitsLong(p) ? Math.max(0, p.getLongValue()) : 0;
    }

    private static boolean fitsLong(JsonParser p) throws IOException {
        return p.getNumberType() != JsonParser.NumberType.BIG_INTEGER
                || p.getBigIntegerValue().bitLength() <= 63;
    }

    /**
     * Where the object following a {@code "usage":} in {@code a[from, to)} starts; -1 when there is none (chunks
     * carry {@code "usage":null} until the last). A cheap scan before any parse.
     */
    public static int usageObject(byte[] a, int from, int to) {
        outer:
        for (int i = from; i + USAGE.length <= to; i++) {
            for (int j = 0; j < USAGE.length; j++) {
                if (a[i + j] != USAGE[j]) {
                    continue outer;
                }
            }
            int k = i + USAGE.length;
            while (k < to && (a[k] == ' ' || a[k] == '\t' || a[k] == '\n' || a[k] == '\r' || a[k] == ':')) {
                k++;
            }
            if (k < to && a[k] == '{') {
                return k;
            }
        }
        return -1;
    }
}
