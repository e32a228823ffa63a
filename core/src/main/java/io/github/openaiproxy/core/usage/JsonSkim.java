package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.internal.Json;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.OptionalLong;

/**
 * Reads what metering needs from a whole (non-streamed) JSON answer as its bytes go by, without holding the
 * body: the top-level {@code usage}, {@code model}, {@code service_tier} and {@code status} members are copied (each at most
 * {@value #MAX_CAPTURE} bytes), and the objects of a top-level {@code data} array are counted as images when
 * they hold {@code b64_json} or {@code url}. A byte-level scanner (strings, escapes, nesting) that looks at
 * every byte only where it must: inside a string it looks for the closing quote, inside a nested value for
 * quotes and brackets, and it copies a member as ranges of the buffers, not byte by byte. So a chat answer
 * costs little more than one pass over its bytes, and a multi-megabyte {@code b64_json} one pass and no copy.
 * Like the mapper, it reads nothing from a body with anything but white space after its one value (a second object,
 * JSON lines); unlike it, a key is compared as written, so an escaped {@code "\\u0075sage"} is not {@code usage}.
 * Not thread-safe. The usage tap and the observers' usage report each use one, so both read usage the same way.
 */
@Internal
public final class JsonSkim {
    static final int MAX_CAPTURE = 64 * 1024;

    private static final int OTHER = 0;
    private static final int USAGE = 1;
    private static final int MODEL = 2;
    private static final int DATA = 3;
    private static final int SERVICE_TIER = 4;
    private static final int STATUS = 5;

    private static final byte[][] KEYS = {
        null,
        "usage".getBytes(StandardCharsets.US_ASCII),
        "model".getBytes(StandardCharsets.US_ASCII),
        "data".getBytes(StandardCharsets.US_ASCII),
        "service_tier".getBytes(StandardCharsets.US_ASCII),
        "status".getBytes(StandardCharsets.US_ASCII),
    };
    private static final byte[] B64 = "b64_json".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] URL = "url".getBytes(StandardCharsets.US_ASCII);

    /** The bytes a nested value is skimmed for: a string's start and the brackets that change the depth. */
    private static final boolean[] NESTED_STOP = new boolean[256];

    static {
        for (char c : new char[] {'"', '{', '}', '[', ']'}) {
            NESTED_STOP[c] = true;
        }
    }

    /**
     * Reads the copied {@code usage}: a plain factory (a member named twice counts once, the last, as in a
     * stream's usage), not the mapper's, whose duplicate check costs a map per object.
     */
    private static final JsonFactory FACTORY = JsonFactory.builder().build();

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;
    private static final long QUOTES = ONES * '"';
    private static final long BACKSLASHES = ONES * '\\';

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

    /** Whether the top-level value has ended. */
    private boolean ended;

    /**
     * Whether the body is one this reads nothing from (anything but white space after its value, or a first value that
     * is no object): then the rest is not even looked at.
     */
    private boolean readsNothing;

    private boolean inData;
    private int dataObjects;
    private boolean imageKeys;

    /** The member being copied (one of {@link #KEYS} but {@link #DATA}), or {@link #OTHER}. */
    private int capturing = OTHER;
    /** Where the copy starts in the buffer being fed. */
    private int captureFrom;
    /** What earlier buffers held of the member being copied; {@code null} while it lies within one buffer. */
    private byte[] carried;

    private int carriedLength;
    private byte[] usage;
    private boolean usageRead;
    private TokenUsage readUsage;
    private Long reportedTotal;
    private byte[] model;
    private byte[] serviceTier;
    private byte[] status;
    private byte[] scratch;

    /** The last of {@link #KEYS} read: {@link #DATA} but for the usage tap, which prices the tier and status too. */
    private final int lastKey;

    /** Reads {@code usage}, {@code model} and {@code data}: what the observers' usage report needs. */
    public JsonSkim() {
        this(false);
    }

    /**
     * As {@link #JsonSkim()}, and with {@code tierAndStatus} the {@code service_tier} and {@code status} members too
     * (the usage tap's, which prices them): the observers' skim copies nothing it does not read.
     */
    public JsonSkim(boolean tierAndStatus) {
        lastKey = tierAndStatus ? STATUS : DATA;
    }

    /** Feeds the next bytes of the body (the buffer's position is left as it is). */
    public void feed(ByteBuffer b) {
        if (b.hasArray()) {
            feed(b.array(), b.arrayOffset() + b.position(), b.arrayOffset() + b.limit());
            return;
        }
        int size = Math.min(8192, b.remaining()); // a small answer needs no 8 KB copy
        if (size == 0) {
            return; // an empty buffer: and a scratch of 0 bytes would never move on
        }
        if (scratch == null || scratch.length < size) {
            scratch = new byte[size];
        }
        for (int at = b.position(); at < b.limit(); ) {
            int n = Math.min(scratch.length, b.limit() - at);
            b.get(at, scratch, 0, n);
            feed(scratch, 0, n);
            at += n;
        }
    }

    private void feed(byte[] a, int from, int to) {
        if (readsNothing) {
            return; // nothing will be read: the rest of a file, a second value, need not be looked at
        }
        captureFrom = from;
        int i = from;
        scan:
        while (i < to) {
            byte c = a[i];
            if (inString) {
                if (readingKey) {
                    keyByte(c);
                } else if (escape) {
                    escape = false;
                } else {
                    // The rest of a string that is not a key: only its closing quote or an escape matter.
                    i = quoteOrEscape(a, i, to);
                    if (i == to) {
                        break;
                    }
                    c = a[i];
                    if (c == '\\') {
                        escape = true;
                    } else {
                        inString = false;
                    }
                }
                i++;
                continue;
            }
            if (depth >= 2 && !(inData && depth == 3)) {
                // Inside a nested value (but for the objects of data): only strings and brackets matter.
                while (!NESTED_STOP[c & 0xff]) {
                    if (++i == to) {
                        break scan;
                    }
                    c = a[i];
                }
            }
            if (depth == 0 && !isSpace(c) && (ended || c != '{')) {
                // A second value, or a first that is no object (a file's bytes, a list): nothing to read from it.
                readsNothing = true;
                return;
            }
            structure(c, a, i);
            i++;
        }
        if (capturing != OTHER) {
            carry(a, captureFrom, to);
        }
    }

    /** Where the first {@code "} or {@code \\} at or after {@code i} is; {@code to} when there is none. */
    private static int quoteOrEscape(byte[] a, int i, int to) {
        // Eight bytes at a time (a long string, a b64_json image, is most of what goes by), then one by one.
        for (; i + 8 <= to; i += 8) {
            long w = (long) LONGS.get(a, i);
            long q = w ^ QUOTES;
            long e = w ^ BACKSLASHES;
            // A byte of q or e is zero where w holds a quote or a backslash: the classic test for a zero byte.
            if (((((q - ONES) & ~q) | ((e - ONES) & ~e)) & HIGHS) != 0) {
                break;
            }
        }
        while (i < to && a[i] != '"' && a[i] != '\\') {
            i++;
        }
        return i;
    }

    /** One byte of a key being read: the key's name is kept (up to 16 bytes), escapes as they are written. */
    private void keyByte(byte c) {
        if (escape) {
            escape = false;
        } else if (c == '\\') {
            escape = true;
        } else if (c == '"') {
            inString = false;
            readingKey = false;
            keyRead();
            return;
        }
        if (keyLength < key.length) {
            key[keyLength] = c;
        }
        keyLength++;
    }

    private void structure(byte c, byte[] a, int i) {
        switch (c) {
            case '"' -> {
                inString = true;
                // Only the keys keyRead() looks at are read; any other goes by on the fast path of a string.
                if (expectKey && isObject(depth) && (depth == 1 || (inData && depth == 3))) {
                    readingKey = true;
                    keyLength = 0;
                }
            }
            case '{', '[' -> {
                depth++;
                if (depth >= 1 && depth < 64) {
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
                    endCapture(a, i);
                }
                depth--;
                if (depth < 2) {
                    inData = false;
                }
                ended |= depth == 0;
                expectKey = false;
            }
            case ':' -> {
                if (depth == 1 && topKey != OTHER && topKey != DATA && capturing == OTHER) {
                    capturing = topKey;
                    captureFrom = i + 1;
                    carriedLength = 0;
                }
                expectKey = false;
            }
            case ',' -> {
                if (depth == 1) {
                    endCapture(a, i);
                }
                expectKey = isObject(depth);
            }
            default -> {
                // a space, or a byte of a number or literal
            }
        }
    }

    private boolean isObject(int d) {
        return d >= 1 && d < 64 && (objects & (1L << d)) != 0;
    }

    private void keyRead() {
        if (depth == 1) {
            topKey = OTHER;
            for (int k = USAGE; k <= lastKey; k++) {
                if (keyIs(KEYS[k])) {
                    topKey = k;
                }
            }
        } else if (inData && depth == 3 && (keyIs(B64) || keyIs(URL))) {
            imageKeys = true;
        }
    }

    private boolean keyIs(byte[] name) {
        return keyLength == name.length && Arrays.equals(key, 0, keyLength, name, 0, name.length);
    }

    /** Keeps what this buffer holds of the member being copied, as the next buffer goes on with it. */
    private void carry(byte[] a, int from, int to) {
        int n = to - from;
        if (carriedLength + n > MAX_CAPTURE) {
            dropCapture(); // too large to be what it should be: not read
            return;
        }
        if (carried == null || carried.length < carriedLength + n) {
            int size = Math.min(MAX_CAPTURE, Math.max(512, 2 * (carriedLength + n)));
            carried = carried == null ? new byte[size] : Arrays.copyOf(carried, size);
        }
        System.arraycopy(a, from, carried, carriedLength, n);
        carriedLength += n;
    }

    /** The member being copied ends before {@code a[end]}. */
    private void endCapture(byte[] a, int end) {
        if (capturing == OTHER) {
            return;
        }
        int n = end - captureFrom;
        if (carriedLength + n <= MAX_CAPTURE) {
            byte[] value;
            if (carriedLength == 0) {
                value = Arrays.copyOfRange(a, captureFrom, end);
            } else {
                value = Arrays.copyOf(carried, carriedLength + n);
                System.arraycopy(a, captureFrom, value, carriedLength, n);
            }
            switch (capturing) {
                case USAGE -> usage = value;
                case MODEL -> model = value;
                case SERVICE_TIER -> serviceTier = value;
                default -> status = value;
            }
        }
        dropCapture();
    }

    private void dropCapture() {
        capturing = OTHER;
        carried = null;
        carriedLength = 0;
    }

    /** The images of an image answer: the objects of {@code data} that hold {@code b64_json} or {@code url}. */
    public int images() {
        return imageKeys && !readsNothing ? dataObjects : 0;
    }

    /** The top-level {@code usage}, when it was an object; {@code null} otherwise. */
    public TokenUsage usage() {
        if (!usageRead) {
            usageRead = true;
            readUsage = readUsage();
        }
        return readUsage;
    }

    /** The {@code total_tokens} of the top-level {@code usage} as the upstream wrote it, when it was a whole number. */
    public OptionalLong reportedTotalTokens() {
        return usage() != null && reportedTotal != null ? OptionalLong.of(reportedTotal) : OptionalLong.empty();
    }

    private TokenUsage readUsage() {
        if (usage == null || readsNothing) {
            return null;
        }
        try (JsonParser p = FACTORY.createParser(usage)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            TokenUsage read = UsageNumbers.read(p, images(), total -> reportedTotal = total);
            return p.nextToken() == null ? read : null; // one value, as the whole answer's parse would have it
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The top-level {@code model}, when it was a string; {@code null} otherwise. */
    public String model() {
        return string(model);
    }

    /** The top-level {@code service_tier} (the tier that served the answer), when it was a string. */
    public String serviceTier() {
        return string(serviceTier);
    }

    /** The top-level {@code status} (a Responses API answer's: {@code queued} for a background one), when a string. */
    public String status() {
        return string(status);
    }

    private String string(byte[] value) {
        if (readsNothing) {
            return null;
        }
        String plain = plainString(value);
        if (plain != null) {
            return plain;
        }
        JsonNode node = parse(value);
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
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
