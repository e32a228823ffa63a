package io.github.openaiproxy.core.images;

/**
 * One byte range of a {@code Range} header, resolved against the image's size. Only single {@code bytes=}
 * ranges are honoured; anything else (several ranges, another unit, garbage) is {@link #NONE}: the whole image,
 * as RFC 9110 allows.
 */
record ByteRange(long first, long last) {
    /** No range: the whole image. */
    static final ByteRange NONE = new ByteRange(-1, -1);
    /** A well-formed range that starts past the end: 416. */
    static final ByteRange UNSATISFIABLE = new ByteRange(-2, -2);

    long length() {
        return last - first + 1;
    }

    static ByteRange parse(String header, long size) {
        String h = header.strip();
        if (h.length() > 100 || !h.regionMatches(true, 0, "bytes=", 0, 6) || h.indexOf(',') >= 0) {
            return NONE;
        }
        String spec = h.substring(6).strip();
        int dash = spec.indexOf('-');
        if (dash < 0) {
            return NONE;
        }
        String a = spec.substring(0, dash).strip();
        String b = spec.substring(dash + 1).strip();
        try {
            if (a.isEmpty()) { // the last b bytes
                long suffix = digits(b);
                if (suffix == 0 || size == 0) {
                    return UNSATISFIABLE;
                }
                return new ByteRange(Math.max(0, size - suffix), size - 1);
            }
            long first = digits(a);
            long last = b.isEmpty() ? Long.MAX_VALUE : digits(b);
            if (last < first) {
                return NONE;
            }
            if (first >= size) {
                return UNSATISFIABLE;
            }
            return new ByteRange(first, Math.min(last, size - 1));
        } catch (NumberFormatException e) {
            return NONE;
        }
    }

    private static long digits(String s) {
        if (s.isEmpty() || s.length() > 18 || !s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new NumberFormatException(s);
        }
        return Long.parseLong(s);
    }
}
