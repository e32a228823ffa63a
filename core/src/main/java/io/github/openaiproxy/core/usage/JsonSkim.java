package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.internal.Json;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Reads what metering needs from a whole (non-streamed) JSON answer as its bytes go by, without holding the
 * body: the top-level {@code usage} and {@code model} members are copied (each at most
 * {@value #MAX_CAPTURE} bytes), and the objects of a top-level {@code data} array are counted as images when
 * they hold {@code b64_json} or {@code url}. A byte-level scanner (strings, escapes, nesting), so a
 * multi-megabyte {@code b64_json} costs one pass and no copy. Not thread-safe.
 */
final class JsonSkim {
    static final int MAX_CAPTURE = 64 * 1024;

    private static final int OTHER = 0;
    private static final int USAGE = 1;
    private static final int MODEL = 2;
    private static final int DATA = 3;

    private static final byte[][] KEYS = {
        null,
        "usage".getBytes(StandardCharsets.US_ASCII),
        "model".getBytes(StandardCharsets.US_ASCII),
        "data".getBytes(StandardCharsets.US_ASCII),
    };
    private static final byte[] B64 = "b64_json".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] URL = "url".getBytes(StandardCharsets.US_ASCII);

    private int depth;
    /** Bit {@code d} set: the container at depth {@code d} (1 to 63) is an object. */
    private long objects;

    private boolean inString;
    private boolean escape;
    private boolean expectKey;
    private boolean readingKey;
    private final byte[] key = new byte[16];
    private int keyLength;
    /** The member of the top-level object being read. */
    private int topKey = OTHER;

    private boolean inData;
    private int dataObjects;
    private boolean imageKeys;

    private int capturing = OTHER;
    /** The member being copied: a plain array, as ByteArrayOutputStream would take a lock per byte. */
    private byte[] capture;

    private int captured;
    private byte[] usage;
    private byte[] model;
    private byte[] scratch;

    /** Feeds the next bytes of the body (the buffer's position is left as it is). */
    void feed(ByteBuffer b) {
        if (b.hasArray()) {
            feed(b.array(), b.arrayOffset() + b.position(), b.arrayOffset() + b.limit());
            return;
        }
        if (scratch == null) {
            scratch = new byte[Math.min(8192, b.remaining())]; // a small answer needs no 8 KB copy
        }
        for (int at = b.position(); at < b.limit(); ) {
            int n = Math.min(scratch.length, b.limit() - at);
            b.get(at, scratch, 0, n);
            feed(scratch, 0, n);
            at += n;
        }
    }

    private void feed(byte[] a, int from, int to) {
        for (int i = from; i < to; i++) {
            byte c = a[i];
            if (inString) {
                if (capturing == OTHER && !readingKey && !escape) {
                    // The fast path of a long string (a b64_json image): skip to its quote or escape.
                    while (i < to && a[i] != '"' && a[i] != '\\') {
                        i++;
                    }
                    if (i == to) {
                        return;
                    }
                    c = a[i];
                }
                string(c);
            } else {
                structure(c);
            }
        }
    }

    private void string(byte c) {
        append(c);
        if (escape) {
            escape = false;
            keyByte(c);
        } else if (c == '\\') {
            escape = true;
            keyByte(c);
        } else if (c == '"') {
            inString = false;
            if (readingKey) {
                readingKey = false;
                keyRead();
            }
        } else {
            keyByte(c);
        }
    }

    private void structure(byte c) {
        switch (c) {
            case ' ', '\n', '\r', '\t' -> append(c);
            case '"' -> {
                append(c);
                inString = true;
                // Only the keys keyRead() looks at are read; any other goes by on the fast path of a string.
                if (expectKey && isObject(depth) && (depth == 1 || (inData && depth == 3))) {
                    readingKey = true;
                    keyLength = 0;
                }
            }
            case '{', '[' -> {
                append(c);
                depth++;
                if (depth < 64) {
                    objects = c == '{' ? objects | (1L << depth) : objects & ~(1L << depth);
                }
                expectKey = c == '{';
                if (depth == 2 && c == '[' && topKey == DATA) {
                    inData = true;
                } else if (inData && depth == 3 && c == '{') {
                    dataObjects++;
                }
            }
            case '}', ']' -> {
                if (depth == 1) {
                    endCapture();
                } else {
                    append(c);
                }
                depth--;
                if (depth < 2) {
                    inData = false;
                }
                expectKey = false;
            }
            case ':' -> {
                if (depth == 1 && (topKey == USAGE || topKey == MODEL) && capturing == OTHER) {
                    capturing = topKey;
                    capture = new byte[topKey == MODEL ? 64 : 512];
                    captured = 0;
                } else {
                    append(c);
                }
                expectKey = false;
            }
            case ',' -> {
                if (depth == 1) {
                    endCapture();
                } else {
                    append(c);
                }
                expectKey = isObject(depth);
            }
            default -> append(c);
        }
    }

    private boolean isObject(int d) {
        return d >= 1 && d < 64 && (objects & (1L << d)) != 0;
    }

    private void keyByte(byte c) {
        if (readingKey && keyLength < key.length) {
            key[keyLength] = c;
        }
        if (readingKey) {
            keyLength++;
        }
    }

    private void keyRead() {
        if (depth == 1) {
            topKey = OTHER;
            for (int k = USAGE; k <= DATA; k++) {
                if (keyIs(KEYS[k])) {
                    topKey = k;
                }
            }
        } else if (inData && depth == 3 && (keyIs(B64) || keyIs(URL))) {
            imageKeys = true;
        }
    }

    private boolean keyIs(byte[] name) {
        return keyLength == name.length && java.util.Arrays.equals(key, 0, keyLength, name, 0, name.length);
    }

    private void append(byte c) {
        if (capturing != OTHER) {
            if (captured >= MAX_CAPTURE) {
                capturing = OTHER; // too large to be what it should be: not read
                capture = null;
                return;
            }
            if (captured == capture.length) {
                capture = java.util.Arrays.copyOf(capture, Math.min(MAX_CAPTURE, captured * 2));
            }
            capture[captured++] = c;
        }
    }

    private void endCapture() {
        if (capturing == USAGE) {
            usage = java.util.Arrays.copyOf(capture, captured);
        } else if (capturing == MODEL) {
            model = java.util.Arrays.copyOf(capture, captured);
        }
        capturing = OTHER;
        capture = null;
    }

    /** The images of an image answer: the objects of {@code data} that hold {@code b64_json} or {@code url}. */
    int images() {
        return imageKeys ? dataObjects : 0;
    }

    /** The top-level {@code usage}, when it was an object; {@code null} otherwise. */
    TokenUsage usage() {
        JsonNode node = parse(usage);
        return node != null && node.isObject() ? UsageNumbers.read(node, images()) : null;
    }

    /** The top-level {@code model}, when it was a string; {@code null} otherwise. */
    String model() {
        String plain = plainString(model);
        if (plain != null) {
            return plain;
        }
        JsonNode node = parse(model);
        return node != null && node.isTextual() ? node.textValue() : null;
    }

    /**
     * A JSON string of printable ASCII without escapes (a model name, as upstreams write it), read without a
     * parser; {@code null} for anything else (the parser reads it).
     */
    private static String plainString(byte[] value) {
        if (value == null) {
            return null;
        }
        int from = 0;
        int to = value.length;
        while (from < to && isSpace(value[from])) {
            from++;
        }
        while (to > from && isSpace(value[to - 1])) {
            to--;
        }
        if (to - from < 2 || value[from] != '"' || value[to - 1] != '"') {
            return null;
        }
        for (int i = from + 1; i < to - 1; i++) {
            byte b = value[i];
            if (b < 0x20 || b > 0x7e || b == '"' || b == '\\') {
                return null;
            }
        }
        return new String(value, from + 1, to - from - 2, StandardCharsets.US_ASCII);
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || b == '\n' || b == '\r' || b == '\t';
    }

    private static JsonNode parse(byte[] value) {
        if (value == null) {
            return null;
        }
        try {
            return Json.parse(value);
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }
}
