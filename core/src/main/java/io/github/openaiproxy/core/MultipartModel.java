package io.github.openaiproxy.core;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * Finds the {@code model} form field at the start of a {@code multipart/form-data} body, so that an upload can be
 * routed by it as a JSON body is. Only the bytes before the first file part are looked at: Python's SDK sends its
 * text fields (the model among them) first, the Node SDK (5.x and later) the fields in the order the call names them,
 * openai-java and the usual {@code curl -F file=@... -F model=...} the file first, and a file is never read for a
 * model after it.
 *
 * @param boundary the body's boundary, as its {@code Content-Type} gives it
 */
record MultipartModel(String boundary) {
    /** What the held bytes say: not enough yet ({@link #MORE}), no model before the first file, or the model. */
    sealed interface Result permits More, None, Found, FoundAt {}

    /** The bytes so far end before the model field or the first file part: read on, if the bound allows. */
    record More() implements Result {}

    /** A file part (or the body's end) comes before any model field: the body names no model the proxy reads. */
    record None() implements Result {}

    /**
     * The model field, complete.
     *
     * @param model its value
     * @param start where its value starts in the bytes
     * @param end where its value ends (exclusive)
     */
    record Found(String model, int start, int end) implements Result {}

    /**
     * The model field found by a {@link Reader}, at positions of a body that may be longer than memory holds.
     *
     * @param model its value
     * @param start where its value starts in the body
     * @param end where its value ends (exclusive)
     */
    record FoundAt(String model, long start, long end) implements Result {}

    private static final Result MORE = new More();
    private static final Result NONE = new None();
    private static final byte[] CRLF = {'\r', '\n'};
    private static final byte[] HEADERS_END = {'\r', '\n', '\r', '\n'};

    /**
     * The boundary of a {@code multipart/form-data} type, or empty when it names none usable (RFC 2046: 1 to 70
     * characters), or when the type is no {@code multipart/form-data}.
     */
    static Optional<MultipartModel> of(String contentType) {
        if (contentType == null) {
            return Optional.empty();
        }
        String[] parts = contentType.split(";");
        if (!parts[0].strip().equalsIgnoreCase("multipart/form-data")) {
            return Optional.empty();
        }
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].strip();
            int eq = p.indexOf('=');
            if (eq > 0 && p.substring(0, eq).strip().equalsIgnoreCase("boundary")) {
                String b = unquote(p.substring(eq + 1).strip());
                if (!b.isEmpty() && b.length() <= 70 && b.chars().allMatch(c -> c > ' ' && c < 127 || c == ' ')) {
                    return Optional.of(new MultipartModel(b));
                }
                return Optional.empty();
            }
        }
        return Optional.empty();
    }

    /** Whether a type is {@code multipart/form-data}, with a usable boundary or not. */
    static boolean isFormData(String contentType) {
        return contentType != null
                && contentType.split(";")[0].strip().toLowerCase(Locale.ROOT).equals("multipart/form-data");
    }

    /** Reads the first {@code length} bytes of a body for its model field. */
    Result scan(byte[] bytes, int length) {
        byte[] next = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        // The first delimiter opens the body, or follows a preamble and its line break.
        int at = startsWith(bytes, length, 0, next, 2) ? lineAfter(bytes, length, next.length - 2) : NOT_DELIMITER;
        if (at == NOT_DELIMITER) {
            int first = delimiter(bytes, length, next, 0);
            if (first < 0) {
                return MORE;
            }
            at = lineAfter(bytes, length, first + next.length);
        }
        while (true) {
            if (at == MORE_BYTES) {
                return MORE;
            }
            if (at == CLOSE) {
                return NONE; // the closing delimiter: no model field at all
            }
            int headersStart = at;
            int headersEnd = startsWith(bytes, length, headersStart, CRLF, 0)
                    ? headersStart // a part without headers
                    : indexOf(bytes, length, HEADERS_END, headersStart);
            if (headersEnd < 0) {
                return MORE;
            }
            String headers = new String(bytes, headersStart, headersEnd - headersStart, StandardCharsets.UTF_8);
            Disposition d = Disposition.of(headers);
            if (d.file()) {
                return NONE; // a file before the model: not read on for one after it
            }
            int valueStart = headersEnd + (headersEnd == headersStart ? 2 : 4);
            int valueEnd = delimiter(bytes, length, next, valueStart);
            if (valueEnd < 0) {
                return MORE;
            }
            if ("model".equals(d.name())) {
                return new Found(
                        new String(bytes, valueStart, valueEnd - valueStart, StandardCharsets.UTF_8),
                        valueStart,
                        valueEnd);
            }
            at = lineAfter(bytes, length, valueEnd + next.length);
        }
    }

    /** {@link #lineAfter}: the bytes end before it is known. */
    private static final int MORE_BYTES = -1;
    /** {@link #lineAfter}: not a delimiter after all (the boundary followed by other bytes is part content). */
    private static final int NOT_DELIMITER = -2;
    /** {@link #lineAfter}: the closing delimiter. */
    private static final int CLOSE = -3;

    /**
     * Where the next delimiter ({@code next}: CRLF, {@code --}, the boundary) at or after {@code from} starts, skipping
     * near misses; -1 when the bytes end first.
     */
    private static int delimiter(byte[] bytes, int length, byte[] next, int from) {
        for (int i = from; ; i++) {
            i = indexOf(bytes, length, next, i);
            if (i < 0) {
                return -1;
            }
            int line = lineAfter(bytes, length, i + next.length);
            if (line == MORE_BYTES) {
                return -1;
            }
            if (line != NOT_DELIMITER) {
                return i;
            }
        }
    }

    /**
     * What follows a boundary that ends at {@code at}: RFC 2046's transport padding (spaces, tabs) and CRLF (where the
     * part's headers start, returned), {@code --} ({@link #CLOSE}), or anything else ({@link #NOT_DELIMITER}: the
     * boundary was content, as Go's and Python's parsers read it, so the proxy reads the parts the upstream reads).
     */
    private static int lineAfter(byte[] bytes, int length, int at) {
        if (at + 2 > length) {
            return MORE_BYTES;
        }
        if (bytes[at] == '-') {
            return bytes[at + 1] == '-' ? CLOSE : NOT_DELIMITER;
        }
        int i = at;
        while (i < length && (bytes[i] == ' ' || bytes[i] == '\t')) {
            i++;
        }
        if (i + 2 > length) {
            return i < length && bytes[i] != '\r' ? NOT_DELIMITER : MORE_BYTES;
        }
        return bytes[i] == '\r' && bytes[i + 1] == '\n' ? i + 2 : NOT_DELIMITER;
    }

    /** A reader that goes on past file parts, a piece at a time, for a model field anywhere in the body. */
    Reader reader() {
        return new Reader(("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1));
    }

    /**
     * Reads a whole body as it arrives for its first {@code model} field that is no file, whatever parts come first:
     * the body's bytes pass once each, and no more than a part's headers or a model's value is kept (each bounded, a
     * longer one ends the search). A file part's name is never looked at.
     */
    static final class Reader {
        private static final int DELIMITER = 0;
        /** After a delimiter's boundary: padding and CRLF, {@code --}, or a near miss (content after all). */
        private static final int CHECK = 1;

        private static final int HEADERS = 2;
        private static final int VALUE = 3;
        /** The longest part headers, padding or model value kept. */
        static final int MAX_KEPT = 16 * 1024;

        private final byte[] delimiter;
        private final int[] fallback;
        private byte[] kept = new byte[256];
        private int keptLength;
        private int state = DELIMITER;
        /** The state a boundary was matched in ({@link #DELIMITER} or {@link #VALUE}), while it is checked. */
        private int before;
        /** The bytes looked at after the boundary, and the last of them ('-' or CR, or 0 for padding). */
        private int checked;

        private byte last;
        /** The delimiter's bytes matched so far: the body may open with it, its line break left out. */
        private int matched = 2;

        private long position;
        private long valueStart;

        private Reader(byte[] delimiter) {
            this.delimiter = delimiter;
            this.fallback = new int[delimiter.length];
            for (int i = 1, k = 0; i < delimiter.length; i++) {
                while (k > 0 && delimiter[i] != delimiter[k]) {
                    k = fallback[k - 1];
                }
                if (delimiter[i] == delimiter[k]) {
                    k++;
                }
                fallback[i] = k;
            }
        }

        /** Reads the next {@code length} bytes of the body; {@link More} until it found the model or knows none. */
        Result read(byte[] bytes, int offset, int length) {
            for (int i = offset; i < offset + length; i++, position++) {
                byte b = bytes[i];
                if (state == DELIMITER || state == VALUE) {
                    if (state == VALUE && !keep(b)) {
                        return NONE;
                    }
                    if (match(b)) {
                        before = state;
                        state = CHECK;
                        checked = 0;
                        last = 0;
                    }
                } else if (state == CHECK) {
                    if (before == VALUE && !keep(b)) {
                        return NONE;
                    }
                    checked++;
                    if (checked > MAX_KEPT) {
                        return NONE;
                    }
                    boolean close = last == '-' && b == '-';
                    boolean line = last == '\r' && b == '\n';
                    if (close || line) {
                        if (before == VALUE) {
                            int valueLength = keptLength - delimiter.length - checked;
                            return new FoundAt(
                                    new String(kept, 0, valueLength, StandardCharsets.UTF_8),
                                    valueStart,
                                    valueStart + valueLength);
                        }
                        if (close) {
                            return NONE; // the closing delimiter: no model field
                        }
                        state = HEADERS;
                        keptLength = 0;
                    } else if (last == 0 && (b == ' ' || b == '\t')) {
                        // transport padding
                    } else if (last == 0 && (b == '\r' || (b == '-' && checked == 1))) {
                        last = b;
                    } else {
                        // A near miss: the boundary was content. Go on from here, its last bytes matched again.
                        state = before;
                        matched = 0;
                        if (last != 0) {
                            match(last);
                        }
                        match(b);
                    }
                } else {
                    if (!keep(b)) {
                        return NONE;
                    }
                    boolean none = keptLength == 2 && endsWith(CRLF);
                    if (none || endsWith(HEADERS_END)) {
                        Disposition d = none
                                ? new Disposition(null, false)
                                : Disposition.of(new String(kept, 0, keptLength - 4, StandardCharsets.UTF_8));
                        state = !d.file() && "model".equals(d.name()) ? VALUE : DELIMITER;
                        valueStart = position + 1;
                        keptLength = 0;
                    }
                }
            }
            return MORE;
        }

        /** One more byte for the delimiter search; whether it completes the delimiter (then searched anew). */
        private boolean match(byte b) {
            while (matched > 0 && b != delimiter[matched]) {
                matched = fallback[matched - 1];
            }
            if (b == delimiter[matched]) {
                matched++;
            }
            if (matched < delimiter.length) {
                return false;
            }
            matched = 0;
            return true;
        }

        private boolean keep(byte b) {
            if (keptLength == kept.length) {
                if (kept.length >= MAX_KEPT + delimiter.length) {
                    return false;
                }
                kept = Arrays.copyOf(kept, Math.min(kept.length * 2, MAX_KEPT + delimiter.length));
            }
            kept[keptLength++] = b;
            return true;
        }

        private boolean endsWith(byte[] what) {
            if (keptLength < what.length) {
                return false;
            }
            for (int i = 0; i < what.length; i++) {
                if (kept[keptLength - what.length + i] != what[i]) {
                    return false;
                }
            }
            return true;
        }
    }

    /** A part's form-data name, and whether it is a file (it has a filename). */
    private record Disposition(String name, boolean file) {
        static Disposition of(String headers) {
            for (String line : headers.split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon < 0 || !line.substring(0, colon).strip().equalsIgnoreCase("content-disposition")) {
                    continue;
                }
                String name = null;
                boolean file = false;
                for (String param : line.substring(colon + 1).split(";")) {
                    int eq = param.indexOf('=');
                    if (eq < 0) {
                        continue;
                    }
                    String key = param.substring(0, eq).strip().toLowerCase(Locale.ROOT);
                    if (key.equals("name")) {
                        name = unquote(param.substring(eq + 1).strip());
                    } else if (key.equals("filename") || key.equals("filename*")) {
                        file = true;
                    }
                }
                return new Disposition(name, file);
            }
            return new Disposition(null, false);
        }
    }

    private static String unquote(String s) {
        return s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"") ? s.substring(1, s.length() - 1) : s;
    }

    /** Whether {@code what}, without its first {@code skip} bytes, is at {@code at}. */
    private static boolean startsWith(byte[] bytes, int length, int at, byte[] what, int skip) {
        if (at + what.length - skip > length) {
            return false;
        }
        for (int i = skip; i < what.length; i++) {
            if (bytes[at + i - skip] != what[i]) {
                return false;
            }
        }
        return true;
    }

    private static int indexOf(byte[] bytes, int length, byte[] what, int from) {
        for (int i = from; i + what.length <= length; i++) {
            if (startsWith(bytes, length, i, what, 0)) {
                return i;
            }
        }
        return -1;
    }
}
